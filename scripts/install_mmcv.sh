#!/usr/bin/env bash
# Build (once) and install mmcv with compiled ops for the torch that is installed in $PY's environment.
# The wheel is cached per torch build: a CPU wheel must never be reused for a CUDA torch or vice versa.
set -euo pipefail
: "${PY:?}" "${MMCV_VERSION:?}" "${MMCV_WHEELHOUSE:?}"
tag=$("$PY" - <<'PYEOF'
import sys, torch
print(f"py{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__}")
PYEOF
)
# torch >= 2.14 headers need C++20 while mmcv 2.1.0 compiles with -std=c++17.
"$PY" - <<'PYEOF'
import sys, torch
major, minor = (int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
if (major, minor) >= (2, 14):
    sys.exit(f"error: torch {torch.__version__} needs C++20 headers; mmcv 2.1.0 builds with C++17. "
             "Install torch<2.14 (make TORCH=torch==2.13.0).")
PYEOF
dir="$MMCV_WHEELHOUSE/$tag"
if ! ls "$dir"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
    cuda=$("$PY" -c 'import torch; print(torch.version.cuda or "")')
    if [ -n "$cuda" ] && command -v nvcc >/dev/null 2>&1; then
        export FORCE_CUDA=1
        echo "Building mmcv $MMCV_VERSION with CUDA ops (torch CUDA $cuda) into $dir"
    else
        export FORCE_CUDA=0
        echo "Building mmcv $MMCV_VERSION with CPU ops into $dir (about 15 min on 2 cores, once)"
    fi
    mkdir -p "$dir.tmp"
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" "$PY" -m pip wheel --no-cache-dir --no-build-isolation --no-deps \
        -w "$dir.tmp" "mmcv==$MMCV_VERSION"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
fi
"$PY" -m pip install -q --no-deps "$dir"/mmcv-"$MMCV_VERSION"-*.whl
# mmcv's own runtime needs (its wheel was installed without them so pip cannot swap torch).
"$PY" -m pip install -q addict packaging Pillow pyyaml yapf "mmengine==0.10.7" "opencv-python" "numpy<2"
"$PY" -c "import mmcv.ops; print('mmcv', mmcv.__version__, 'ops OK')"
