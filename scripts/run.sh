#!/usr/bin/env bash
# The main job: set up, build, and upgrade the tiny model (the embedded default, random teacher weights) into
# its ARL2 hybrid on the CPU, end to end, in a minute or two:
#   1. arl2 rollout   the teacher generates the training clips from the tiny prompt embeddings
#   2. arl2 train     stage 1 (layer alignment), then stage 2 (distillation) from stage 1's checkpoint
#   3. arl2 export    the trained hybrid merged into one safetensors file
#   4. arl2 generate  the hybrid generates from the same prompts, block by block
# Everything lands in $RUN_DIR (default runs/main); a second run starts it afresh. Extra arguments go to
# both training stages (e.g. --set train.steps=200).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build/run}
RUN_DIR=${RUN_DIR:-runs/main}
cmake -S . -B "$BUILD_DIR" -G Ninja -DARL2_CUDA=AUTO -DARL2_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target arl2
ARL2="$BUILD_DIR/csrc/arl2"
PROMPTS=tests/data/tiny_prompts.safetensors
CPU=(--set inference.device=cpu --set inference.dtype=float32)
rm -rf "$RUN_DIR"

echo "== 1/4 rollout: the teacher's clips"
"$ARL2" rollout --config configs/tiny-train-stage1.yaml "${CPU[@]}" --prompts "$PROMPTS" --latent-frames 4 \
  --clips-per-shard 1 --out "$RUN_DIR/data"
echo "== 2/4 train: stage 1 (layer alignment), then stage 2 (distillation)"
"$ARL2" train --config configs/tiny-train-stage1.yaml --set data.path="$RUN_DIR/data" \
  --set train.out="$RUN_DIR/stage1" "$@"
stage1=$(ls "$RUN_DIR"/stage1/checkpoints/step_*.safetensors | tail -1)
"$ARL2" train --config configs/tiny-train-stage2.yaml --set data.path="$RUN_DIR/data" \
  --set train.out="$RUN_DIR/stage2" --set train.init_from="$stage1" "$@"
stage2=$(ls "$RUN_DIR"/stage2/checkpoints/step_*.safetensors | tail -1)
echo "== 3/4 export: one merged hybrid file"
"$ARL2" export --config configs/tiny-train-stage2.yaml --ema --checkpoint "$stage2" --out "$RUN_DIR/hybrid.safetensors"
echo "== 4/4 generate with the hybrid"
"$ARL2" generate --config configs/tiny-train-stage2.yaml "${CPU[@]}" \
  --set inference.hybrid_checkpoint="$RUN_DIR/hybrid.safetensors" --prompts "$PROMPTS" --latent-frames 6 \
  --out "$RUN_DIR/generate"
echo "done: clips $RUN_DIR/data, runs $RUN_DIR/stage{1,2} (metrics.jsonl, checkpoints), hybrid $RUN_DIR/hybrid.safetensors,"
echo "      generated latents $RUN_DIR/generate"
