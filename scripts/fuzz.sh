#!/usr/bin/env bash
# Fuzzes the safetensors reader and the YAML config loader with libFuzzer + AddressSanitizer (clang 14
# from Debian: clang-14 and libclang-rt-14-dev, which scripts/setup.sh installs) for SECONDS each
# (default 600; scripts/test.sh runs 60). An input that crashes a target is saved under
# tests/data/<target>_crashes/, where the Catch2 tests replay it, and the script fails naming it.
# Corpora: build/fuzz/<target>_corpus, seeded with valid and corrupt inputs written here (none committed).
# The config target instruments the config sources and links the rest of the framework from the CMake
# build in BUILD_DIR (default build/test) and python/arl2/libarl2_ops.so, which must exist.
#   bash scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-600}
BUILD_DIR=${BUILD_DIR:-build/test}
CXX=${CXX_FUZZ:-clang++-14}
command -v "$CXX" >/dev/null || { echo "fuzz.sh: $CXX not found (bash scripts/setup.sh installs it)"; exit 1; }
LAUNCHER=$(command -v ccache || true)
TORCH=$(python3 -c "import torch, os; print(os.path.dirname(torch.__file__))")
OUT=build/fuzz
mkdir -p "$OUT"

# Every object is compiled on its own so that ccache keeps it between runs.
build_target() {
  local name=$1 objects=() src obj
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    src=$1
    obj="$OUT/obj/${src//\//_}.o"
    mkdir -p "$OUT/obj"
    $LAUNCHER "$CXX" -std=c++17 -O1 -g -fsanitize=fuzzer-no-link,address -D_GLIBCXX_USE_CXX11_ABI=1 \
      -I csrc -isystem "$TORCH/include" -isystem "$TORCH/include/torch/csrc/api/include" -c "$src" -o "$obj"
    objects+=("$obj")
    shift
  done
  shift # --
  "$CXX" -fsanitize=fuzzer,address "${objects[@]}" "$@" \
    -L "$TORCH/lib" -Wl,-rpath,"$TORCH/lib" -ltorch -ltorch_cpu -lc10 -o "$OUT/$name"
}

build_target fuzz_safetensors tests/fuzz/fuzz_safetensors.cpp csrc/io/safetensors.cpp csrc/io/atomic_file.cpp \
  csrc/io/directories.cpp --
OPS_LIB=python/arl2/libarl2_ops.so # where the CMake build puts it, for the Python package
for lib in "$BUILD_DIR/csrc/libarl2_framework.a" "$OPS_LIB"; do
  [ -f "$lib" ] || { echo "fuzz.sh: $lib is missing: build first (scripts/test.sh does)"; exit 1; }
done
build_target fuzz_config tests/fuzz/fuzz_config.cpp csrc/config/*.cpp csrc/io/fields.cpp csrc/model/config.cpp -- \
  "$BUILD_DIR/csrc/libarl2_framework.a" "$OPS_LIB" -Wl,-rpath,"$(dirname "$OPS_LIB")" -lyaml-cpp

# Seeds. The reader's: a valid file and the corrupt kinds it must refuse (bad length, a gap, trailing
# bytes, overlap, deep nesting). The loader's: the repository's configs, and broken variants of one.
python3 - "$OUT" configs <<'PY'
import json, os, struct, sys
out, configs = sys.argv[1], sys.argv[2]

def safetensors(header, data):
    h = json.dumps(header).encode() if isinstance(header, dict) else header
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data

def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}

valid = {"a": entry("F32", [2, 2], 0, 16), "b": entry("BF16", [3], 16, 22), "__metadata__": {"format": "pt"}}
seeds = {
    "valid": safetensors(valid, bytes(range(22))),
    "bad_length": struct.pack("<Q", 1 << 40) + json.dumps(valid).encode(),
    "gap": safetensors({"a": entry("F32", [2], 0, 8), "b": entry("I32", [1], 12, 16)}, bytes(16)),
    "trailing": safetensors({"a": entry("I64", [1], 0, 8)}, bytes(12)),
    "overlap": safetensors({"a": entry("F16", [4], 0, 8), "b": entry("U8", [4], 4, 8)}, bytes(8)),
    "nested": safetensors(b'{"a":' + b"[" * 64, b""),
}
os.makedirs(f"{out}/fuzz_safetensors_corpus", exist_ok=True)
for name, data in seeds.items():
    open(f"{out}/fuzz_safetensors_corpus/{name}", "wb").write(data)

os.makedirs(f"{out}/fuzz_config_corpus", exist_ok=True)
texts = {}
for name in sorted(os.listdir(configs)):
    texts[name] = open(os.path.join(configs, name)).read()
base = texts.get("toy-stage1.yaml", next(iter(texts.values())))
texts["duplicate_key"] = base + "\nmodel:\n  preset: tiny\n"
texts["wrong_type"] = base + "\ntrain:\n  steps: many\n"
texts["nested"] = "train: " + "[" * 64
texts["alias"] = "a: &x {b: 1}\nmodel: *x\n"
texts["empty"] = ""
for name, text in texts.items():
    open(f"{out}/fuzz_config_corpus/{name}", "w").write(text)
PY

# Runs one target; on a crash prints the reproducer and how to replay it.
run_target() {
  local name=$1 crashes=tests/data/${2}_crashes log="$OUT/$1.log"
  mkdir -p "$crashes"
  if ASAN_OPTIONS=detect_leaks=0 "$OUT/$name" "$OUT/${name}_corpus" -max_total_time="$SECONDS_TO_RUN" \
    -timeout=10 -max_len=4096 -artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1; then
    echo "fuzz.sh: $name: no crash in ${SECONDS_TO_RUN} s ($(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$log" |
      grep -o '[0-9]*$') inputs)"
    return 0
  fi
  tail -40 "$log"
  local reproducer
  reproducer=$(grep -o "written to [^ ]*" "$log" | tail -1 | cut -d' ' -f3)
  echo "fuzz.sh: $name crashed; reproducer: ${reproducer:-none written, see $log}"
  echo "fuzz.sh: replay with: ASAN_OPTIONS=detect_leaks=0 $OUT/$name ${reproducer:-<input>}"
  return 1
}

rc=0
run_target fuzz_safetensors safetensors || rc=1
run_target fuzz_config config || rc=1
exit $rc
