#!/usr/bin/env bash
# One call on the GPU machine: build the CUDA targets, run the Catch2 cases, the kernel workbench's check
# (scripts/bench/gdn_kernels.cu), the pytest cases marked requires_cuda (NCCL ones included) and a tiny
# `arl2 generate` on the GPU, run the benchmarks, and leave logs and JSON under $OUT. Prints a summary table last.
#   device run: bash scripts/device_check.sh      (carry .whl to compare against fla's Triton kernel;
#   SKIP_BENCH=1 to check correctness only; PYTEST_ALL=1 runs every pytest case, not only those marked
#   requires_cuda (the CPU cases run in CI; the whole suite takes ~5.5 minutes there); BENCH_GENERATE="--models hybrid100 --frames 921" also runs
#   scripts/bench_generate.py with those arguments, and PROFILE_GENERATE=hybrid100 scripts/profile_generate.py --by-shape
#   on that model, after the checks)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-build/device-out}
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
PYTHON=$(command -v python3)
# The GPU machine's default CXX wraps a relocated gcc whose library directory has only libstdc++.a;
# the system g++ links libstdc++ dynamically, as a library loaded next to torch must
# (cmake/Arl2SharedLibstdcxx.cmake).
if [ -x /usr/bin/g++ ]; then export CXX=/usr/bin/g++ CUDAHOSTCXX=/usr/bin/g++ CC=/usr/bin/gcc; fi
status=0
step() { # name, command...: runs one step, logs it, remembers a failure and carries on
  local name=$1; shift
  local t0=$SECONDS
  "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  printf '%-14s rc=%-3d %4ds\n' "$name" "$rc" $((SECONDS - t0)) | tee -a "$OUT/summary.txt"
  [ "$rc" -eq 0 ] || status=1
  return "$rc"
}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv >"$OUT/gpu.txt" 2>&1
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && \
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=python${PYTHONPATH:+:$PYTHONPATH}

step configure cmake -S . -B build/device -G Ninja -DARL2_CUDA=ON -DARL2_CUDA_ARCHITECTURES=90 \
  -DPython3_EXECUTABLE="$PYTHON" || { tail -30 "$OUT/configure.log"; exit 1; }
step build cmake --build build/device -j "$(nproc)" || { grep -E "error|Error" "$OUT/build.log" | head -40; exit 1; }
step catch_cpu ./build/device/tests/cpp/arl2_tests "~[cuda]"
step catch_cuda ./build/device/tests/cpp/arl2_tests "[cuda]" --durations yes
step kernels ./build/device/scripts/bench/gdn_kernels check
pytest_select=(-m requires_cuda)
[ "${PYTEST_ALL:-0}" = 1 ] && pytest_select=()
step pytest "$PYTHON" -X faulthandler -m pytest tests/python -v -rs "${pytest_select[@]}"
if [ "$(tail -1 "$OUT/summary.txt" | awk '{print $2}')" = "rc=139" ] && command -v cuda-gdb >/dev/null; then
  # A crash in native code: rerun up to the first failure under the debugger for its native backtrace.
  timeout 300 cuda-gdb -batch -ex run -ex bt --args "$PYTHON" -m pytest tests/python -x -q \
    >"$OUT/pytest_crash_bt.log" 2>&1
  grep -v "^\[New Thread\|^\[Thread" "$OUT/pytest_crash_bt.log" | tail -40
fi
# The generator on the GPU: the tiny hybrid in bfloat16 (GDN kernels, FlashAttention, the free-memory check).
step generate ./build/device/csrc/arl2 generate --config configs/tiny-hybrid50.yaml --set inference.device=cuda \
  --set inference.dtype=bfloat16 --set inference.latent_height=4 --set inference.latent_width=6 \
  --set inference.frames_per_block=2 --prompts tests/data/tiny_prompts.safetensors --latent-frames 6 \
  --out "$OUT/generate_tiny"
# The C++ NCCL group from torchrun's variables: 2 ranks of the tiny stage-2 step on their own GPUs must end
# with the same parameters on both ranks and those of one GPU over the same global batch.
gpus=$(nvidia-smi -L 2>/dev/null | grep -c "^GPU")
if [ "$gpus" -ge 2 ]; then
  step torchrun_nccl "$PYTHON" scripts/bench_scaling.py --arl2 ./build/device/csrc/arl2 \
    --config configs/tiny-train-stage2.yaml --set train.device=cuda --latent-frames 4 --warmup 1 --steps 3 --gpus 2
fi
[ "${SKIP_BENCH:-0}" = 1 ] || step kernels_bench ./build/device/scripts/bench/gdn_kernels bench --json "$OUT/gdn_kernels.json"
[ "${SKIP_BENCH:-0}" = 1 ] || step bench "$PYTHON" scripts/bench_gdn.py --json "$OUT/bench_gdn.json"
# shellcheck disable=SC2086  # the arguments are a list of words
[ -z "${BENCH_GENERATE:-}" ] ||
  step bench_generate "$PYTHON" scripts/bench_generate.py --json "$OUT/bench_generate.json" $BENCH_GENERATE
[ -z "${PROFILE_GENERATE:-}" ] ||
  step profile_generate "$PYTHON" scripts/profile_generate.py --model "$PROFILE_GENERATE" --blocks 2 --by-shape \
    --json "$OUT/profile_generate.json"

for f in catch_cuda kernels pytest generate torchrun_nccl; do
  [ -f "$OUT/$f.log" ] && { echo "== $f (tail)"; tail -25 "$OUT/$f.log"; }
done
[ -f "$OUT/kernels_bench.log" ] && { echo "== kernels_bench"; cat "$OUT/kernels_bench.log"; }
for f in bench bench_generate profile_generate; do
  [ -f "$OUT/$f.log" ] && { echo "== $f"; tail -60 "$OUT/$f.log"; }
done
echo "== summary"; cat "$OUT/summary.txt"
# Few files to fetch back: the logs as one archive, the JSON files as they are.
tar -czf "$OUT/logs.tar.gz" -C "$OUT" $(cd "$OUT" && ls ./*.log ./*.txt) && (cd "$OUT" && rm -f ./*.log ./*.txt)
exit "$status"
