#!/usr/bin/env bash
# The generation benchmark (scripts/bench_generate.py) in one call on the GPU machine: build arl2._C as
# scripts/device_check.sh does (same configure line and build/device folder, only the targets it needs),
# then run the benchmark with this script's arguments, leaving $OUT/bench_generate.json (rewritten after
# every run, so a call cut short keeps what it measured) and the logs. The whole benchmark takes more
# than one call: split it by --models as the benchmark's docstring says and combine with --merge.
#   device run: bash scripts/device_bench_generate.sh --models hybrid100 hybrid75
# With --stream first, it runs the streaming benchmark (scripts/bench_stream.py) instead, into
# $OUT/bench_stream.json and .png; it needs diffusers, which the GPU machine lacks: carry the wheels in .whl/
# (`pip download --no-deps -d .whl diffusers==0.42.1 importlib_metadata zipp`; the machine has diffusers' other
# dependencies), which it installs into build/device/pydeps.
#   device run (carry .whl): bash scripts/device_bench_generate.sh --stream --models hybrid100
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-build/device-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PYTHON=$(command -v python3)
# The system g++ links libstdc++ dynamically, as a library loaded next to torch must (see device_check.sh).
if [ -x /usr/bin/g++ ]; then export CXX=/usr/bin/g++ CUDAHOSTCXX=/usr/bin/g++ CC=/usr/bin/gcc; fi
export PYTHONPATH=python${PYTHONPATH:+:$PYTHONPATH}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv >"$OUT/gpu.txt" 2>&1
cmake -S . -B build/device -G Ninja -DARL2_CUDA=ON -DARL2_CUDA_ARCHITECTURES=90 \
  -DPython3_EXECUTABLE="$PYTHON" >"$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build build/device -j "$(nproc)" --target _C >"$OUT/build.log" 2>&1 || {
  grep -E "error|Error" "$OUT/build.log" | head -40; exit 1; }
# --json after this script's arguments would override the default: argparse keeps the last.
if [ "${1:-}" = --stream ]; then
  shift
  if ! "$PYTHON" -c "import diffusers" 2>/dev/null; then
    "$PYTHON" -m pip install -q --no-deps --no-index --target build/device/pydeps .whl/diffusers-*.whl \
      .whl/importlib_metadata-*.whl .whl/zipp-*.whl >"$OUT/pip.log" 2>&1 || { cat "$OUT/pip.log"; exit 1; }
    export PYTHONPATH=$PYTHONPATH:build/device/pydeps
  fi
  "$PYTHON" scripts/bench_stream.py --json "$OUT/bench_stream.json" --png "$OUT/bench_stream.png" "$@" 2>&1 |
    tee "$OUT/bench_stream.log"
else
  "$PYTHON" scripts/bench_generate.py --json "$OUT/bench_generate.json" "$@" 2>&1 | tee "$OUT/bench_generate.log"
fi
exit "${PIPESTATUS[0]}"
