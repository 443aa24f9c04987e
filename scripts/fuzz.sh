#!/usr/bin/env bash
# Fuzzes the safetensors reader with libFuzzer + AddressSanitizer (clang from Debian) for SECONDS
# (default 600). Inputs that crash are saved under tests/data/safetensors_crashes/, where the Catch2
# test replays them. Corpus: build/fuzz/corpus (seeded with valid and corrupt files).
#   bash scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-600}
CXX=${CXX_FUZZ:-clang++-14}
command -v "$CXX" >/dev/null || { apt-get install -y -qq clang-14 libclang-rt-14-dev >/dev/null; }
TORCH=$(python3 -c "import torch, os; print(os.path.dirname(torch.__file__))")
OUT=build/fuzz
mkdir -p "$OUT/corpus" tests/data/safetensors_crashes

"$CXX" -std=c++17 -O1 -g -fsanitize=fuzzer,address -D_GLIBCXX_USE_CXX11_ABI=1 \
  -I csrc -isystem "$TORCH/include" \
  tests/fuzz/fuzz_safetensors.cpp csrc/io/safetensors.cpp \
  -L "$TORCH/lib" -Wl,-rpath,"$TORCH/lib" -ltorch_cpu -lc10 \
  -o "$OUT/fuzz_safetensors"

# Seeds: a valid file with two tensors and metadata, and the same with a broken header length.
python3 - "$OUT/corpus" <<'PY'
import json, struct, sys
header = {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
          "b": {"dtype": "BF16", "shape": [3], "data_offsets": [16, 22]},
          "__metadata__": {"format": "pt"}}
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
valid = struct.pack("<Q", len(h)) + h + bytes(range(22))
open(f"{sys.argv[1]}/valid", "wb").write(valid)
open(f"{sys.argv[1]}/bad_length", "wb").write(struct.pack("<Q", 1 << 40) + h)
PY

ASAN_OPTIONS=detect_leaks=0 "$OUT/fuzz_safetensors" "$OUT/corpus" -max_total_time="$SECONDS_TO_RUN" \
  -max_len=4096 -artifact_prefix=tests/data/safetensors_crashes/ -print_final_stats=1
