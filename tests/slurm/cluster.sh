#!/usr/bin/env bash
# A single-node SLURM cluster on 127.0.0.1 for the tests: munged, slurmctld and slurmd,
# state in $SEGSHIFT_SLURM_DIR (default /tmp/segshift-slurm). For a test machine only: it links
# /etc/slurm/slurm.conf to its config, because the SLURM plugin's job steps drop SLURM_CONF
# and srun then reads the default path (it refuses to replace a config it did not write).
#   tests/slurm/cluster.sh install   # Debian's slurm-wlm and munge, where missing (needs root)
#   tests/slurm/cluster.sh start
#   tests/slurm/cluster.sh stop
# Finished jobs stay visible to squeue for an hour (MinJobAge), which is how the Snakemake
# SLURM plugin follows them without accounting (--slurm-status-command squeue); each job's
# end is also written to $SEGSHIFT_SLURM_DIR/jobcomp.log (what sacct would show).
set -euo pipefail

DIR=${SEGSHIFT_SLURM_DIR:-/tmp/segshift-slurm}
NODE=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 3 / 4))

install() {
    if command -v slurmctld >/dev/null && command -v munged >/dev/null; then
        return
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

start() {
    mkdir -p "$DIR"/{state,spool,log,munge}
    chmod 700 "$DIR/munge"
    if [ ! -f "$DIR/munge/munge.key" ]; then
        dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
        chmod 400 "$DIR/munge/munge.key"
    fi
    munged --force --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/socket" \
        --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/seed"
    cat >"$DIR/slurm.conf" <<CONF
ClusterName=segshift
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/socket
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=3600
ReturnToService=2
SchedulerType=sched/backfill
MpiDefault=none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
    if [ -e /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" != "$DIR/slurm.conf" ]; then
        echo "/etc/slurm/slurm.conf exists and is not this test cluster's; stop here" >&2
        exit 1
    fi
    mkdir -p /etc/slurm
    ln -sfn "$DIR/slurm.conf" /etc/slurm/slurm.conf
    slurmctld
    slurmd
    for _ in $(seq 60); do
        if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            echo "SLURM is up (config: $DIR/slurm.conf)"
            return
        fi
        sleep 1
    done
    echo "SLURM did not come up; see $DIR/log" >&2
    exit 1
}

stop() {
    for pid in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" "$DIR/munge/munged.pid"; do
        if [ -f "$pid" ]; then
            kill "$(cat "$pid")" 2>/dev/null || true
            rm -f "$pid"
        fi
    done
    if [ "$(readlink /etc/slurm/slurm.conf)" = "$DIR/slurm.conf" ]; then
        rm -f /etc/slurm/slurm.conf
    fi
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
