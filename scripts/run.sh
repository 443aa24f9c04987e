#!/usr/bin/env bash
# The main job: set up, build, and upgrade the shipped toy teacher (models/toy-teacher.safetensors, a tiny Wan
# trained on the toy domain of bouncing sprites) into hybrids (by default its 75% hybrid), then generate a video
# 20 times longer than the training clips with each and compare them:
#   1. arl2 toy-data  the training clips (data/toy) and held-out prompts
#   2. arl2 train     per hybrid of P%: stage 1 (layer alignment, configs/toy-stage1.yaml), then stage 2
#                     (distillation, configs/toy-stage2.yaml) from stage 1's last checkpoint, both with
#                     hybrid.ratio = P/100, in runs/toy-hP/stage1 and runs/toy-hP/stage2
#   3. arl2 export    each trained hybrid merged into one file (runs/toy-hP/hybrid.safetensors)
#   4. arl2 generate  the teacher (configs/toy-generate.yaml) and each hybrid (configs/toy-hybridP.yaml), the same
#                     prompts and seed, block by block; and the last hybrid once more with other prompts from the
#                     middle of the video on (--switch-prompts, --switch-at)
#   5. arl2 eval      all against the toy domain's truth: the continuation of true scenes, each hybrid against
#                     the teacher under teacher forcing, sprite colour, count and motion over long rollouts
#   6. the report     GIFs side by side (and of the prompt switch), plots of time and memory per block and of the eval, summary.json and
#                     tables (the eval's with each rollout's start, middle and end and its block flicker)
# On a GPU (nvidia-smi sees one and the build has CUDA) everything runs there; else on the CPU, in about
# 7 minutes on 2 cores for the one default hybrid. Results land in $RUN_DIR (default runs/main), with the clips
# in $TOY_DATA (default data/toy) and the training runs in $TOY_RUNS/toy-hP/ (default runs/toy-hP/, where the toy
# configs expect them; other folders get copies of configs/toy-hybridP.yaml in $RUN_DIR/configs that name them); a
# second run starts them all afresh.
# HYBRIDS (default "75") lists the hybrids' percentages, e.g. HYBRIDS="50 75 100"; each needs its inference config,
# configs/toy-hybridP.yaml (50, 75 and 100 ship). FRAMES (default 320) sets the video's length; EVAL_CLIPS
# (default 4) and EVAL_LENGTHS (default 16,64) set arl2 eval's clips and rollout lengths; SKIP_SETUP=1 skips
# scripts/setup.sh (a machine that has everything and no package registry); extra arguments go to every
# training stage (e.g. --set train.steps=20 for a quick check), and STAGE2_ARGS to stage 2 alone (e.g.
# STAGE2_ARGS="--set train.teacher_guidance_scale=1.5", a key stage 1 refuses).
set -euo pipefail
cd "$(dirname "$0")/.."

[ "${SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build/run}
RUN_DIR=${RUN_DIR:-runs/main}
HYBRIDS=${HYBRIDS:-75}
TOY_DATA=${TOY_DATA:-data/toy}
TOY_RUNS=${TOY_RUNS:-runs}
FRAMES=${FRAMES:-320}
EVAL_CLIPS=${EVAL_CLIPS:-4}
EVAL_LENGTHS=${EVAL_LENGTHS:-16,64} # rollouts of 4 clips at 320 frames would double the job's time on a CPU
read -r -a percents <<<"$HYBRIDS"
((${#percents[@]})) || { echo "run.sh: HYBRIDS is empty: give the hybrids' percentages, e.g. HYBRIDS=\"50 75 100\"" >&2; exit 1; }
for p in "${percents[@]}"; do
  [[ "$p" =~ ^[1-9][0-9]?$|^100$ ]] || { echo "run.sh: HYBRIDS: '$p' is not a percentage from 1 to 100" >&2; exit 1; }
  [ -f "configs/toy-hybrid$p.yaml" ] || {
    echo "run.sh: HYBRIDS: no configs/toy-hybrid$p.yaml for the $p% hybrid (50, 75 and 100 ship; a copy of" \
      "configs/toy-hybrid75.yaml with hybrid.ratio $(awk -v p="$p" 'BEGIN { printf "%g", p / 100 }') and" \
      "inference.hybrid_checkpoint runs/toy-h$p/hybrid.safetensors would do)" >&2
    exit 1
  }
  grep -q "^ *hybrid_checkpoint: runs/toy-h$p/hybrid.safetensors *$" "configs/toy-hybrid$p.yaml" || {
    echo "run.sh: configs/toy-hybrid$p.yaml must read inference.hybrid_checkpoint: runs/toy-h$p/hybrid.safetensors," \
      "where this job exports the $p% hybrid" >&2
    exit 1
  }
done
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
models=(teacher)
for p in "${percents[@]}"; do models+=("hybrid$p"); done
echo "== the main job on $device: the teacher and hybrids of ${percents[*]}%; results in $RUN_DIR"
rm -rf "$RUN_DIR" "$TOY_DATA"
for p in "${percents[@]}"; do rm -rf "$TOY_RUNS/toy-h$p"; done
mkdir -p "$RUN_DIR/configs"
# Each hybrid's inference config, naming the file this job exports (a copy of the shipped one when TOY_RUNS moves).
for p in "${percents[@]}"; do
  sed "s|runs/toy-h$p/|$TOY_RUNS/toy-h$p/|" "configs/toy-hybrid$p.yaml" >"$RUN_DIR/configs/toy-hybrid$p.yaml"
done
t0=$SECONDS
t_step=$SECONDS
stamp() {
  echo "   ($1: $((SECONDS - t_step)) s; $((SECONDS - t0)) s so far)"
  t_step=$SECONDS
}

echo "== 1/6 toy-data: 1024 training clips of 16 frames (seed 1, not the teacher's), and held-out prompts"
"$ARL2" toy-data --out "$TOY_DATA" --clips 1024 --seed 1 >"$RUN_DIR/toy_data.log" 2>&1 || { cat "$RUN_DIR/toy_data.log"; exit 1; }
"$ARL2" toy-data --out "$RUN_DIR/prompts" --clips 2 --seed 1000 --preview 2 2>&1 | grep preview | sed 's/^/   /'
PROMPTS="$RUN_DIR/prompts/shard_00000.safetensors"
stamp toy-data

echo "== 2/6 train: stage 1 (layer alignment), then stage 2 (distillation), for each hybrid"
for p in "${percents[@]}"; do
  ratio=$(awk -v p="$p" 'BEGIN { printf "%g", p / 100 }')
  dir=$TOY_RUNS/toy-h$p
  echo "-- hybrid$p: hybrid.ratio $ratio, in $dir"
  HYBRID_SET=(--set hybrid.ratio="$ratio" --set data.path="$TOY_DATA")
  "$ARL2" train --config configs/toy-stage1.yaml "${TRAIN_ON[@]}" "${HYBRID_SET[@]}" --set train.out="$dir/stage1" "$@"
  stage1=$(ls "$dir"/stage1/checkpoints/step_*.safetensors | tail -1)
  # shellcheck disable=SC2086  # STAGE2_ARGS is a list of words
  "$ARL2" train --config configs/toy-stage2.yaml "${TRAIN_ON[@]}" "${HYBRID_SET[@]}" --set train.out="$dir/stage2" \
    --set train.init_from="$stage1" "$@" ${STAGE2_ARGS:-}
  stamp "hybrid$p's stage 1 and 2"
done

echo "== 3/6 export: one merged file per hybrid"
for p in "${percents[@]}"; do
  dir=$TOY_RUNS/toy-h$p
  stage2=$(ls "$dir"/stage2/checkpoints/step_*.safetensors | tail -1)
  "$ARL2" export --config "$dir/stage2/config.yaml" --ema --checkpoint "$stage2" --out "$dir/hybrid.safetensors"
done
stamp export

echo "== 4/6 generate: $FRAMES frames with the teacher and with each hybrid, and one with a prompt switch"
for model in "${models[@]}"; do
  config=configs/toy-generate.yaml
  [ "$model" = teacher ] || config=$RUN_DIR/configs/toy-$model.yaml
  "$ARL2" generate --config "$config" "${INFER_ON[@]}" --prompts "$PROMPTS" --latent-frames "$FRAMES" \
    --out "$RUN_DIR/$model"
  stamp "$model's $FRAMES frames"
done
# A session's prompt switch: the last hybrid's video, with other held-out prompts from the middle on (a toy block is
# 4 latent frames).
SWITCH_MODEL=hybrid${percents[-1]}
SWITCH_AT=$((FRAMES / 8 * 4))
"$ARL2" toy-data --out "$RUN_DIR/switch-prompts" --clips 2 --seed 2000 >/dev/null
"$ARL2" generate --config "$RUN_DIR/configs/toy-$SWITCH_MODEL.yaml" "${INFER_ON[@]}" --prompts "$PROMPTS" \
  --switch-prompts "$RUN_DIR/switch-prompts/shard_00000.safetensors" --switch-at "$SWITCH_AT" \
  --latent-frames "$FRAMES" --out "$RUN_DIR/switch" | grep -E "^prompts switched|blocks in"
stamp "$SWITCH_MODEL's $FRAMES frames with a prompt switch at frame $SWITCH_AT"

echo "== 5/6 eval: all against the toy domain's truth"
EVAL_MODELS=()
for p in "${percents[@]}"; do EVAL_MODELS+=(--model "hybrid$p=$RUN_DIR/configs/toy-hybrid$p.yaml"); done
"$ARL2" eval --teacher configs/toy-generate.yaml "${EVAL_MODELS[@]}" "${INFER_ON[@]}" \
  --clips "$EVAL_CLIPS" --lengths "$EVAL_LENGTHS" --out "$RUN_DIR/eval"
stamp eval

echo "== 6/6 report"
"$PYTHON" scripts/toy_report.py --run "$RUN_DIR" --models "${models[@]}" --switch switch
stamp report
echo "done in $((SECONDS - t0)) s after the build: $RUN_DIR (videos/, blocks.png, eval.png, summary.json," \
  "$(printf '%s/, ' "${models[@]}")eval/)"
