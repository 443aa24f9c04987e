#!/usr/bin/env bash
# One call on the GPU machine: train the toy domain's teacher (configs/toy-teacher.yaml, stage 0) and export
# its EMA weights, within one 10-minute command. Builds only the `arl2` CLI, writes the clips, trains until
# train.steps or until the time left runs out (a checkpoint every 500 steps, so a second call can continue with
# RESUME=<checkpoint>), exports the newest checkpoint and leaves under $OUT: the exported teacher,
# metrics.jsonl, config.yaml and the logs.
#   device run: bash scripts/device_toy_teacher.sh     (DEADLINE_S: seconds for the whole call, default 570)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-build/device-out}
DEADLINE_S=${DEADLINE_S:-570}
RUN=runs/toy-teacher
mkdir -p "$OUT"
# The GPU machine's default CXX cannot link a library loaded next to torch (scripts/device_check.sh).
if [ -x /usr/bin/g++ ]; then export CXX=/usr/bin/g++ CUDAHOSTCXX=/usr/bin/g++ CC=/usr/bin/gcc; fi
log() { echo "[$(date +%T) +${SECONDS}s] $*" | tee -a "$OUT/summary.txt"; }

log "configure and build arl2"
cmake -S . -B build/device -G Ninja -DARL2_CUDA=ON -DARL2_CUDA_ARCHITECTURES=90 -DARL2_BUILD_TESTS=OFF >"$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build build/device -j "$(nproc)" --target arl2 >"$OUT/build.log" 2>&1 ||
  { grep -E "error|Error" "$OUT/build.log" | head -40; exit 1; }
ARL2=build/device/csrc/arl2
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$OUT/summary.txt"

log "toy clips"
"$ARL2" toy-data --out data/toy-teacher --clips 20000 >"$OUT/toy_data.log" 2>&1 || { tail -20 "$OUT/toy_data.log"; exit 1; }

# Leave 45 s for the export and the copies.
train_s=$((DEADLINE_S - SECONDS - 45))
log "train for at most ${train_s}s"
resume=()
[ -n "${RESUME:-}" ] && resume=(--resume "$RESUME")
timeout --signal=INT "$train_s" "$ARL2" train --config configs/toy-teacher.yaml \
  --set train.checkpoint_every=500 "${resume[@]}" "$@" >"$OUT/train.log" 2>&1
log "train exited with $? (124: the time ran out)"

last=$(ls "$RUN"/checkpoints/step_*.safetensors 2>/dev/null | tail -1)
[ -n "$last" ] || { tail -30 "$OUT/train.log"; exit 1; }
log "export $last"
"$ARL2" export --config configs/toy-teacher.yaml --ema --checkpoint "$last" --out "$OUT/toy-teacher.safetensors" \
  >"$OUT/export.log" 2>&1 || { tail -20 "$OUT/export.log"; exit 1; }
cp "$RUN/metrics.jsonl" "$RUN/config.yaml" "$OUT/" 2>/dev/null
grep -v '^{' "$OUT/train.log" | tail -15
tail -3 "$RUN/metrics.jsonl"
ls -la "$OUT"
log "done"
