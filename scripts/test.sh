#!/usr/bin/env bash
# The test command: set-up, build (the CUDA kernels too where nvcc exists, so a kernel that does not
# compile fails here), Catch2 through ctest, then pytest. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build/test}
JOBS=${JOBS:-$(nproc)}

cmake -S . -B "$BUILD_DIR" -G Ninja -DARL2_CUDA=AUTO -DARL2_BUILD_TESTS=ON
cmake --build "$BUILD_DIR" -j "$JOBS"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"

# pytest's exit code 5 means every test was deselected or skipped: not a failure here.
rc=0
PYTHONPATH=python python3 -m pytest tests/python -q -rs || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then
  exit "$rc"
fi

# Packaging: `pip install --no-build-isolation .` into a throw-away venv, then use the installed package
# from outside the tree (the CMake build behind it mostly hits ccache).
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv --system-site-packages "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check --no-build-isolation .
(cd "$venv" && "$venv/bin/python" - <<'PY'
import torch
import arl2

k = torch.nn.functional.normalize(torch.randn(1, 8, 2, 16), dim=-1)
states, final = arl2.gdn_block_scan(k, torch.randn(1, 8, 2, 16), -torch.rand(1, 8, 2), torch.rand(1, 8, 2), 4)
o = torch.ops.arl2.gdn_block_read(k, states, 4, 0.25)
assert arl2.__file__.startswith(__import__("sys").prefix), arl2.__file__
print(f"packaging: installed arl2 {arl2.__version__} works ({tuple(o.shape)})")
PY
)
