#!/usr/bin/env bash
# One call on the GPU machine: the main job (scripts/run.sh) on the GPU with several hybrids, within one
# 10-minute command. Builds only the `arl2` CLI into build/device (CUDA, sm_90), then runs the job there without
# scripts/setup.sh (SKIP_SETUP=1: the machine has no package registry) and leaves under $OUT:
#   summary.json, eval.json   the report's figures and `arl2 eval`'s per-frame arrays, tenths and flicker
#   blocks.png, eval.png      the report's plots (where matplotlib is installed)
#   main_job.log              run.sh's output, each line prefixed with the seconds since the job started
#   steps.log                 this script's steps and the job's, each with its time
#   logs.tar.gz               the configure and build logs, the toy-data log, each generation's metrics.json, the
#                             training runs' metrics.jsonl and config.yaml, and the GIFs (where Pillow is
#                             installed) that fit in 15 MiB
# and prints the report's tables at the end. Settings (environment): HYBRIDS (default "50 75 100"), EVAL_CLIPS
# (default 8), EVAL_LENGTHS (default 16,64,320), FRAMES (default 320), DEADLINE_S (seconds for the whole call,
# default 570: the job is stopped in time to copy what it made). Arguments go to every training stage, as with
# run.sh.
#   device run: bash scripts/device_main_job.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-build/device-out}
DEADLINE_S=${DEADLINE_S:-570}
export HYBRIDS=${HYBRIDS:-50 75 100}
export EVAL_CLIPS=${EVAL_CLIPS:-8}
export EVAL_LENGTHS=${EVAL_LENGTHS:-16,64,320}
export FRAMES=${FRAMES:-320}
export RUN_DIR=runs/main BUILD_DIR=build/device SKIP_SETUP=1
mkdir -p "$OUT"
# The GPU machine's default CXX cannot link a library loaded next to torch (scripts/device_check.sh).
if [ -x /usr/bin/g++ ]; then export CXX=/usr/bin/g++ CUDAHOSTCXX=/usr/bin/g++ CC=/usr/bin/gcc; fi
log() { echo "[$(date +%T) +${SECONDS}s] $*" | tee -a "$OUT/steps.log"; }
logs=$(mktemp -d)

log "configure and build arl2 into $BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -G Ninja -DARL2_CUDA=ON -DARL2_CUDA_ARCHITECTURES=90 -DARL2_BUILD_TESTS=OFF \
  >"$logs/configure.log" 2>&1 ||
  { tail -30 "$logs/configure.log"; cp "$logs/configure.log" "$OUT/"; echo "device_main_job: configure failed"; exit 1; }
cmake --build "$BUILD_DIR" -j "$(nproc)" --target arl2 >"$logs/build.log" 2>&1 ||
  { grep -E "error|Error" "$logs/build.log" | head -40; cp "$logs/build.log" "$OUT/"; echo "device_main_job: the build failed"; exit 1; }
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true; } | tee -a "$OUT/steps.log"
{ "$BUILD_DIR/csrc/arl2" info | grep -E "^(arl2|CUDA)" || true; } | tee -a "$OUT/steps.log"

# Leave 30 s for the copies; a job stopped by the deadline (timeout signals run.sh and all its processes) still
# leaves what it made.
job_s=$((DEADLINE_S - SECONDS - 30))
log "the main job (HYBRIDS=\"$HYBRIDS\" FRAMES=$FRAMES EVAL_CLIPS=$EVAL_CLIPS EVAL_LENGTHS=$EVAL_LENGTHS), at most ${job_s}s"
start=$SECONDS
rc=0
timeout --kill-after=10 "$job_s" bash scripts/run.sh "$@" 2>&1 |
  while IFS= read -r line; do printf '[%4ds] %s\n' $((SECONDS - start)) "$line"; done >"$OUT/main_job.log" || rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then log "the deadline stopped the main job"; else log "the main job exited with $rc"; fi
grep -E '^\[ *[0-9]+s\] (==|--|   \(.* so far\)$|done in)' "$OUT/main_job.log" >>"$OUT/steps.log" || true

copy() { if [ -f "$1" ]; then cp "$1" "$2"; fi; }
for f in summary.json eval/eval.json blocks.png eval.png; do copy "$RUN_DIR/$f" "$OUT/"; done
copy "$RUN_DIR/toy_data.log" "$logs/"
for d in "$RUN_DIR"/*/; do copy "$d/metrics.json" "$logs/generate_$(basename "$d").metrics.json"; done
for p in $HYBRIDS; do
  for s in stage1 stage2; do
    for f in metrics.jsonl config.yaml; do copy "runs/toy-h$p/$s/$f" "$logs/toy-h${p}_${s}.$f"; done
  done
done
tar -czf "$OUT/logs.tar.gz" -C "$logs" .
# the GIFs, one by one, as long as the archive stays under 15 MiB
for gif in "$RUN_DIR"/videos/*.gif; do
  [ -f "$gif" ] || continue
  mkdir -p "$logs/videos" && cp "$gif" "$logs/videos/"
  tar -czf "$OUT/logs.tar.next" -C "$logs" .
  if [ "$(stat -c %s "$OUT/logs.tar.next")" -gt $((15 * 1024 * 1024)) ]; then
    log "left $gif ($(du -h "$gif" | cut -f1)) out of logs.tar.gz: it would pass 15 MiB"
    rm -f "$OUT/logs.tar.next" "$logs/videos/$(basename "$gif")"
  else
    mv "$OUT/logs.tar.next" "$OUT/logs.tar.gz"
  fi
done
rm -rf "$logs"
ls -la "$OUT"
log "done"

# The report's tables (run.sh's step 6/6), or where the job stopped.
if grep -q '^\[ *[0-9]*s\] == 6/6 report' "$OUT/main_job.log"; then
  sed -n '/^\[ *[0-9]*s\] == 6\/6 report/,$p' "$OUT/main_job.log" | sed -E 's/^\[ *[0-9]+s\] //'
else
  echo "device_main_job: the job stopped before its report; the end of main_job.log:"
  tail -30 "$OUT/main_job.log"
fi
exit "$rc"
