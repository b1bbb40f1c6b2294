"""Give each inference job its own GPU.

Snakemake's `--resources gpu=N` limits how many GPU jobs run at once but tells no
job which GPU to use, so on one machine they would all land on GPU 0. Each job
takes an exclusive lock on one visible GPU instead; the lock belongs to the
process, so the kernel releases it when the job ends or is killed. Under SLURM
each job sees only its own GPUs through CUDA_VISIBLE_DEVICES, and the lock names
the physical id, so jobs sharing a node never collide either.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from segshift.errors import SegshiftError


def visible_gpus(count: int | None = None) -> list[str]:
    """Physical ids of the GPUs this process may use, in CUDA's visible order."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    if count is None:
        import torch

        count = torch.cuda.device_count()
    return [str(i) for i in range(count)]


def lock_dir() -> Path:
    """Node-local, per-user folder of lock files (never on a shared file system)."""
    return Path(os.environ.get("SEGSHIFT_GPU_LOCK_DIR") or Path(tempfile.gettempdir()) / f"segshift-gpu-locks-{os.getuid()}")


@dataclass
class GpuLease:
    index: int  # index among the visible GPUs: use torch.device(f"cuda:{index}")
    physical_id: str
    _fd: int

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = -1

    def __enter__(self) -> "GpuLease":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def acquire(gpus: list[str] | None = None, *, timeout: float | None = None, poll: float = 0.5) -> GpuLease:
    """Lock the first free GPU among `gpus` (default: the visible ones), waiting while all are taken."""
    gpus = visible_gpus() if gpus is None else gpus
    if not gpus:
        raise SegshiftError("no GPU is visible to this job; unset CUDA_VISIBLE_DEVICES or run on a GPU node")
    folder = lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        for index, physical in enumerate(gpus):
            fd = os.open(folder / f"gpu-{physical}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return GpuLease(index=index, physical_id=physical, _fd=fd)
        if deadline is not None and time.monotonic() > deadline:
            raise SegshiftError(
                f"all GPUs {', '.join(gpus)} stayed taken for {timeout:.0f} s; run with --resources gpu=N "
                "no larger than the number of GPUs"
            )
        time.sleep(poll)
