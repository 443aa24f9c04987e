#!/usr/bin/env bash
# Nsight Compute profile of the GDN kernels on the GPU machine: builds the torch-free workbench
# (scripts/bench/gdn_kernels.cu) and profiles one pass of every GDN kernel of its bench at the product
# shape (the forward, backward, one-block forward and read, in that order), writing the report as text.
#   device run: OUT=$OUT bash scripts/profile_gdn.sh      (NCU_SECTIONS to choose other sections)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-build/profile-out}
mkdir -p "$OUT"
# as in device_check.sh: the system g++ links libstdc++ dynamically
if [ -x /usr/bin/g++ ]; then export CXX=/usr/bin/g++ CUDAHOSTCXX=/usr/bin/g++ CC=/usr/bin/gcc; fi
cmake -S . -B build/device -G Ninja -DARL2_CUDA=ON -DARL2_CUDA_ARCHITECTURES=90 >"$OUT/configure.log" 2>&1
cmake --build build/device --target gdn_kernels -j "$(nproc)" >"$OUT/build.log" 2>&1
SECTIONS=${NCU_SECTIONS:-"SpeedOfLight ComputeWorkloadAnalysis WarpStateStats SchedulerStats Occupancy MemoryWorkloadAnalysis SourceCounters LaunchStats"}
args=()
for s in $SECTIONS; do args+=(--section "$s"); done
# The bench first runs the forward (prep, chain) on each of its two input sets: skip those 4 launches,
# then take one of each stage: forward 3, backward 5, one-block forward 2, read 3.
ncu --kernel-name "regex:gdn_" --launch-skip 4 --launch-count 13 "${args[@]}" \
  ./build/device/scripts/bench/gdn_kernels bench --iters 1 >"$OUT/ncu.txt" 2>&1
grep -E "^  gdn_|Duration|Compute \(SM\) Throughput|Memory Throughput|Stall|Achieved Occupancy|Issue Slots Busy" \
  "$OUT/ncu.txt" | head -200
