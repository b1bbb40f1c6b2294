#!/usr/bin/env bash
# The device check, ready to run on a CUDA machine (README, "Models"; issue "The model axis"):
#   bash benchmarks/device_check.sh            # on the GPU machine, from the repository root
#   bash benchmarks/device_check.sh --device cpu --images 2 --budget 600   # the same, CPU only (here)
# Installs what it needs into a venv of its own (PyPI only: torch's CUDA wheels, the test install
# and the optional requirements; the random models come from the tests' helpers, hence pytest; no
# hub download: every model has random weights), unless the active Python already has them, then
# runs benchmarks/device_check.py: CUDA vs CPU predictions and img/s against each library's loop
# for every torch backend. detectron2 runs where it is installed with CUDA (its build takes longer
# than this check may). Meant to finish within 8 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
export SEGSHIFT_SHARED_DATA="${SEGSHIFT_SHARED_DATA:-$(cd .. && pwd -P)/shared/data}"
started=$SECONDS

have_all() {
    python - <<'PY' 2>/dev/null
import importlib.util, sys
need = ["torch", "torchvision", "pandas", "pyarrow", "pycocotools", "cv2", "pytest", "transformers", "rfdetr", "ultralytics"]
sys.exit(0 if all(importlib.util.find_spec(n) for n in need) else 1)
PY
}

if ! command -v python >/dev/null || ! have_all; then
    venv="${SEGSHIFT_DEVICE_VENV:-/tmp/segshift-device-venv}"
    py="$(command -v python3.11 || command -v python3)"
    echo "installing into $venv with $py"
    "$py" -m venv "$venv"
    . "$venv/bin/activate"
    pip install --quiet --upgrade pip
    pip install --quiet -r requirements-dev.txt -r requirements-transformers.txt -r requirements-rfdetr.txt
    pip install --quiet --no-deps -r requirements-nodeps.txt -r requirements-ultralytics.txt
    echo "install: $((SECONDS - started)) s"
fi
python -c "import torch; print('torch', torch.__version__, 'CUDA available:', torch.cuda.is_available())"
python benchmarks/device_check.py "$@"
echo "device_check.sh: $((SECONDS - started)) s in all"
