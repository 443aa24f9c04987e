#!/usr/bin/env bash
# The main job: set up, build, and run the GDN memory ops' benchmark on this machine's best device
# (a small shape on a CPU, the product's shape on a GPU). Results land in build/run/bench_gdn.json.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build/run}
cmake -S . -B "$BUILD_DIR" -G Ninja -DARL2_CUDA=AUTO -DARL2_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
python3 scripts/bench_gdn.py --json "$BUILD_DIR/bench_gdn.json" "$@"
