"""ARL2: the gated delta rule memory of a video diffusion transformer, as torch.ops.arl2 custom ops.

Importing the package loads libarl2_ops.so (every schema and kernel, shared with the C++ side) once;
the functions in ops.py are thin, documented wrappers over torch.ops.arl2.*.
"""
import json
from pathlib import Path

import torch

from .ops import (
    gated_residual,
    gdn_block_read,
    gdn_block_scan,
    hybrid_attention,
    layer_norm_modulate,
    rms_norm,
    rope3d,
)

__version__ = "0.1.0"

_HERE = Path(__file__).resolve().parent
_REBUILD = "`pip install --no-build-isolation .` or `cmake -S . -B build && cmake --build build`"


def _load_ops():
    # torch.ops resolves lazily: without this check a missing library surfaces later as an
    # AttributeError on torch.ops.arl2, far from the cause.
    lib = _HERE / "libarl2_ops.so"
    if not lib.exists():
        raise ImportError(f"arl2: {lib} is missing; build it with {_REBUILD}")
    info = _HERE / "build_info.json"
    if info.exists():
        built_for = json.loads(info.read_text())["torch_version"]
        if built_for != torch.__version__:
            raise ImportError(
                f"arl2 was built for torch {built_for} but torch {torch.__version__} is installed; "
                f"rebuild with {_REBUILD}"
            )
    torch.ops.load_library(str(lib))


_load_ops()

__all__ = [
    "gated_residual",
    "gdn_block_read",
    "gdn_block_scan",
    "hybrid_attention",
    "layer_norm_modulate",
    "rms_norm",
    "rope3d",
]
