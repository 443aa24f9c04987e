#!/usr/bin/env bash
# Installs everything the build and the tests need on a fresh Debian 12 machine; a no-op when it is
# all there. Debian packages: compilers (clang-14 with libclang-rt-14-dev: libFuzzer and AddressSanitizer for
# scripts/fuzz.sh) and libraries; Python packages: torch==2.11.0, safetensors
# (scripts/convert_checkpoint.py), transformers and diffusers (scripts/encode_prompts.py,
# scripts/decode_latents.py, python -m arl2.video), av (PyAV with its own FFmpeg: arl2.video's mp4), pillow and
# matplotlib (the main job's GIFs and plots) and test tools.
set -euo pipefail

DEBIAN_PACKAGES=(cmake ninja-build g++ clang-14 libclang-rt-14-dev ccache catch2 libcli11-dev libyaml-cpp-dev libfmt-dev pybind11-dev nlohmann-json3-dev)
PYTHON_PACKAGES=(torch==2.11.0 numpy pytest expecttest setuptools wheel safetensors transformers==5.24.0
  diffusers==0.42.1 av pillow matplotlib)
PYTHON=${PYTHON:-python3}

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! "$PYTHON" - <<'PY' 2>/dev/null
import importlib.metadata as md
import sys
want = {"torch": "2.11.0", "numpy": None, "pytest": None, "expecttest": None, "wheel": None, "safetensors": None,
        "transformers": "5.24.0", "diffusers": "0.42.1", "av": None, "pillow": None,
        "matplotlib": None}
for name, version in want.items():
    have = md.version(name)
    if version is not None and have.split("+")[0] != version:
        sys.exit(1)
PY
then
  echo "setup: installing Python packages: ${PYTHON_PACKAGES[*]}"
  "$PYTHON" -m pip install -q --disable-pip-version-check "${PYTHON_PACKAGES[@]}"
fi
echo "setup: ready (torch $("$PYTHON" -c 'import torch; print(torch.__version__)'))"
