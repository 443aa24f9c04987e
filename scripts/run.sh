#!/usr/bin/env bash
# The main job: set up, build, and upgrade the shipped toy teacher (models/toy-teacher.safetensors, a tiny Wan
# trained on the toy domain of bouncing sprites) into its 75% hybrid, then generate a video 20 times longer than
# the training clips with both and compare them:
#   1. arl2 toy-data  the training clips (data/toy) and held-out prompts
#   2. arl2 train     stage 1 (layer alignment, configs/toy-stage1.yaml), then stage 2 (distillation,
#                     configs/toy-stage2.yaml) from stage 1's last checkpoint
#   3. arl2 export    the trained hybrid merged into one file (runs/toy-stage2/hybrid.safetensors)
#   4. arl2 generate  the teacher (configs/toy-generate.yaml) and the hybrid (configs/toy-hybrid75.yaml), the same
#                     prompts and seed, block by block
#   5. arl2 eval      both against the toy domain's truth: the continuation of true scenes, the hybrid against
#                     the teacher under teacher forcing, sprite colour, count and motion over long rollouts
#   6. the report     GIFs side by side, a plot of time and memory per block, summary.json and a table
# On a GPU (nvidia-smi sees one and the build has CUDA) everything runs there; else on the CPU, in about
# 10 minutes on 2 cores. Results land in $RUN_DIR (default runs/main), with the clips in data/toy and the training
# runs in runs/toy-stage{1,2}, where the toy configs expect them; a second run starts them all afresh.
# FRAMES (default 320) sets the video's length; extra arguments go to both training stages
# (e.g. --set train.steps=20 for a quick check).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build/run}
RUN_DIR=${RUN_DIR:-runs/main}
FRAMES=${FRAMES:-320}
EVAL_CLIPS=${EVAL_CLIPS:-4}
EVAL_LENGTHS=${EVAL_LENGTHS:-16,64} # rollouts of 4 clips at 320 frames would double the job's time on a CPU
# a build folder already configured (the tests' build, say) is built as it is
[ -f "$BUILD_DIR/CMakeCache.txt" ] || cmake -S . -B "$BUILD_DIR" -G Ninja -DARL2_CUDA=AUTO -DARL2_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target arl2
ARL2="$BUILD_DIR/csrc/arl2"
PYTHON=${PYTHON:-python3}

device=cpu
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 && "$ARL2" info | grep -q "^CUDA devices: [1-9]"; then
  device=cuda
fi
TRAIN_ON=(--set train.device=$device)
INFER_ON=(--set inference.device=$device)
echo "== the main job on $device; results in $RUN_DIR"
rm -rf "$RUN_DIR" runs/toy-stage1 runs/toy-stage2 data/toy
mkdir -p "$RUN_DIR"
t0=$SECONDS
stamp() { echo "   ($((SECONDS - t0)) s so far)"; }

echo "== 1/6 toy-data: 1024 training clips of 16 frames (seed 1, not the teacher's), and held-out prompts"
"$ARL2" toy-data --out data/toy --clips 1024 --seed 1 >"$RUN_DIR/toy_data.log" 2>&1 || { cat "$RUN_DIR/toy_data.log"; exit 1; }
"$ARL2" toy-data --out "$RUN_DIR/prompts" --clips 2 --seed 1000 --preview 2 2>&1 | grep preview | sed 's/^/   /'
PROMPTS="$RUN_DIR/prompts/shard_00000.safetensors"

echo "== 2/6 train: stage 1 (layer alignment), then stage 2 (distillation)"
"$ARL2" train --config configs/toy-stage1.yaml "${TRAIN_ON[@]}" "$@"
stage1=$(ls runs/toy-stage1/checkpoints/step_*.safetensors | tail -1)
"$ARL2" train --config configs/toy-stage2.yaml "${TRAIN_ON[@]}" --set train.init_from="$stage1" "$@"
stage2=$(ls runs/toy-stage2/checkpoints/step_*.safetensors | tail -1)
stamp

echo "== 3/6 export: one merged hybrid file"
"$ARL2" export --config configs/toy-stage2.yaml --ema --checkpoint "$stage2" --out runs/toy-stage2/hybrid.safetensors

echo "== 4/6 generate: $FRAMES frames with the teacher and with the hybrid"
for model in teacher hybrid75; do
  config=configs/toy-generate.yaml
  [ "$model" = hybrid75 ] && config=configs/toy-hybrid75.yaml
  "$ARL2" generate --config "$config" "${INFER_ON[@]}" --prompts "$PROMPTS" --latent-frames "$FRAMES" \
    --out "$RUN_DIR/$model"
done
stamp

echo "== 5/6 eval: both against the toy domain's truth"
"$ARL2" eval --teacher configs/toy-generate.yaml --model hybrid75=configs/toy-hybrid75.yaml "${INFER_ON[@]}" \
  --clips "$EVAL_CLIPS" --lengths "$EVAL_LENGTHS" --out "$RUN_DIR/eval"
stamp

echo "== 6/6 report"
"$PYTHON" scripts/toy_report.py --run "$RUN_DIR" --models teacher hybrid75
echo "done in $((SECONDS - t0)) s after the build: $RUN_DIR (videos/, blocks.png, summary.json, teacher/, hybrid75/, eval/)"
