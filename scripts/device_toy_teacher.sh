#!/usr/bin/env bash
# One call on the GPU machine: train the toy domain's teacher (configs/toy-teacher.yaml, stage 0), export its
# EMA weights and measure them against the truth, within one 10-minute command. Builds only the `arl2` CLI,
# writes the clips, trains until train.steps or until the time left runs out (a checkpoint every 250 steps),
# exports the newest checkpoint, runs `arl2 eval` on it (EVAL_CLIPS held-out scenes, default 8, rollouts of
# EVAL_LENGTHS frames, default 16,64,320, in the time left) and leaves under $OUT the exported teacher,
# results.tar.gz (metrics.jsonl, config.yaml, eval/eval.json, film strips of its first 64 generated frames for 4
# held-out prompts in samples/, and the logs: the device returns few files, so they travel as one) and the newest
# checkpoint in parts of 15 MiB (checkpoint.part-*, under the device's 16 MiB a file).
# The training takes more than one call: copy what a call returned into a folder the call carries and name it
# in RESUME, and the next call continues that run exactly.
#   device run: bash scripts/device_toy_teacher.sh     (DEADLINE_S: seconds for the whole call, default 570;
#   EVAL_S: seconds kept for the eval, default 120; RESUME: a folder with the last call's results.tar.gz and
#   checkpoint.part-*)
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

# Leave 45 s for the export and the copies, and EVAL_S for the eval.
EVAL_S=${EVAL_S:-120}
train_s=$((DEADLINE_S - SECONDS - 45 - EVAL_S))
log "train for at most ${train_s}s"
resume=()
if [ -n "${RESUME:-}" ]; then
  # The run folder as the last call left it: its config and log, and its newest checkpoint put back together.
  mkdir -p "$RUN/checkpoints"
  tar -xzf "$RESUME/results.tar.gz" -C "$RUN" config.yaml metrics.jsonl checkpoint_name || exit 1
  name=$(cat "$RUN/checkpoint_name")
  cat "$RESUME"/checkpoint.part-* >"$RUN/checkpoints/$name.tmp" && mv "$RUN/checkpoints/$name.tmp" "$RUN/checkpoints/$name"
  rm "$RUN/checkpoint_name"
  resume=(--resume "$RUN/checkpoints/$name")
  log "resume from $name"
fi
timeout --signal=INT "$train_s" "$ARL2" train --config configs/toy-teacher.yaml \
  --set train.checkpoint_every=250 "${resume[@]}" "$@" >"$OUT/train.log" 2>&1
log "train exited with $? (124: the time ran out)"

last=$(ls "$RUN"/checkpoints/step_*.safetensors 2>/dev/null | tail -1)
[ -n "$last" ] || { tail -30 "$OUT/train.log"; exit 1; }
log "export $last"
"$ARL2" export --config configs/toy-teacher.yaml --ema --checkpoint "$last" --out "$OUT/toy-teacher.safetensors" \
  >"$OUT/export.log" 2>&1 || { tail -20 "$OUT/export.log"; exit 1; }
cp "$RUN/metrics.jsonl" "$RUN/config.yaml" "$OUT/" 2>/dev/null
basename "$last" >"$OUT/checkpoint_name"
split -b 15M "$last" "$OUT/checkpoint.part-"

log "eval the exported teacher (at most ${EVAL_S}s)"
eval_config=$OUT/toy-generate.yaml
sed "s|models/toy-teacher.safetensors|$OUT/toy-teacher.safetensors|; s|device: cpu|device: cuda|" \
  configs/toy-generate.yaml >"$eval_config"
"$ARL2" toy-data --out data/toy-teacher-prompts --clips 4 --seed 1000 >/dev/null 2>&1 &&
  timeout 60 "$ARL2" generate --config "$eval_config" --prompts data/toy-teacher-prompts/shard_00000.safetensors \
    --latent-frames 64 --out "$OUT/samples" >"$OUT/samples.log" 2>&1
timeout "$EVAL_S" "$ARL2" eval --teacher "$eval_config" --clips "${EVAL_CLIPS:-8}" \
  --lengths "${EVAL_LENGTHS:-16,64,320}" --out "$OUT/eval" >"$OUT/eval.log" 2>&1
log "eval exited with $? (124: the time ran out)"
sed -n '/^model/,$p' "$OUT/eval.log"
grep -v '^{' "$OUT/train.log" | tail -15
tail -3 "$RUN/metrics.jsonl"
rm -f "$OUT/samples/latents.safetensors"
(cd "$OUT" && tar -czf results.tar.gz --exclude=toy-teacher.safetensors --exclude=results.tar.gz --exclude=summary.txt \
  --exclude='checkpoint.part-*' --remove-files -- *)
ls -la "$OUT"
log "done"
