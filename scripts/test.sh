#!/usr/bin/env bash
# The test command: set-up, build (the CUDA kernels too where nvcc exists, so a kernel that does not
# compile fails here), Catch2 through ctest, the fuzzers for a minute each, the main job shortened, then pytest.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build/test}
JOBS=${JOBS:-$(nproc)}

cmake -S . -B "$BUILD_DIR" -G Ninja -DARL2_CUDA=AUTO -DARL2_BUILD_TESTS=ON
cmake --build "$BUILD_DIR" -j "$JOBS"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"

# The fuzzers of the safetensors reader and the config loader, FUZZ_SECONDS each (default 60; 0 skips them):
# a crash fails here, naming the input that caused it.
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
if [ "$FUZZ_SECONDS" -gt 0 ]; then
  BUILD_DIR="$BUILD_DIR" bash scripts/fuzz.sh "$FUZZ_SECONDS"
fi

# The main job, shortened (4 training steps a stage, 32 frames, one eval clip) on the build above: every step
# and every output of `bash scripts/run.sh` (GIFs, plot, summary) must work. Its clips and training runs stay in
# runs/main-check too, so a real main job's data/toy and runs/toy-h75 are left as they are.
BUILD_DIR="$BUILD_DIR" RUN_DIR=runs/main-check TOY_DATA=runs/main-check/toy-data TOY_RUNS=runs/main-check/toy \
  FRAMES=32 EVAL_CLIPS=1 EVAL_LENGTHS=16 \
  bash scripts/run.sh --set train.steps=4 --set train.warmup_steps=1 >"$BUILD_DIR/main_job_check.log" 2>&1 ||
  { tail -40 "$BUILD_DIR/main_job_check.log"; exit 1; }
for f in videos/prompt_0.gif blocks.png summary.json eval/eval.json teacher/video_0.png hybrid75/video_0.png; do
  [ -s "runs/main-check/$f" ] || { echo "main job check: runs/main-check/$f is missing"; exit 1; }
done
echo "main job check: passed ($(tail -1 "$BUILD_DIR/main_job_check.log"))"

# pytest's exit code 5 means every test was deselected or skipped: not a failure here.
rc=0
PYTHONPATH=python python3 -m pytest tests/python -q -rs || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then
  exit "$rc"
fi

# Packaging: `pip install --no-build-isolation .` into a throw-away venv, then use the installed package
# from outside the tree; then `-e .`, which imports from python/. Both run the CMake build in build/py: the
# first mostly hits ccache, the second relinks.
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv --system-site-packages "$venv"
pip_install() { "$venv/bin/pip" install -q --disable-pip-version-check --no-build-isolation "$@"; }
check_install() {
  (cd "$venv" && "$venv/bin/python" - "$1" <<'PY'
import sys
from pathlib import Path

import torch
import arl2
from arl2 import _C

k = torch.nn.functional.normalize(torch.randn(1, 8, 2, 16), dim=-1)
states, final = arl2.gdn_block_scan(k, torch.randn(1, 8, 2, 16), -torch.rand(1, 8, 2), torch.rand(1, 8, 2), 4)
o = torch.ops.arl2.gdn_block_read(k, states, 4, 0.25)
assert Path(arl2.__file__).is_relative_to(sys.argv[1]), arl2.__file__
assert Path(_C.__file__).parent == Path(arl2.__file__).parent, _C.__file__
assert {"py.typed", "_C.pyi"} <= {p.name for p in Path(arl2.__file__).parent.iterdir()}
assert _C.WanDiT("tiny").config["dim"] == 64
print(f"packaging: arl2 {arl2.__version__} from {Path(arl2.__file__).parent} works ({tuple(o.shape)})")
PY
  )
}
pip_install .
check_install "$venv"
pip_install -e .
check_install "$PWD/python"
