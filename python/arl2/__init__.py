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


def _rebuild_command(info: dict) -> str:
    """The command that rebuilds this package's libraries, from where build_info.json says they were built.
    The torch version is read when CMake configures, so the command configures again."""
    if "build_dir" not in info:  # a record from before it named its build
        return _REBUILD
    source, build = Path(info["source_dir"]), Path(info["build_dir"])
    if build == source / "build" / "py":  # setup.py's build folder: a pip install
        editable = "-e " if _HERE == source / "python" / "arl2" else ""
        return f"`pip install --no-build-isolation {editable}{source}`"
    return f"`cmake -S {source} -B {build} && cmake --build {build}`"


def _load_ops():
    # torch.ops resolves lazily: without this check a missing library surfaces later as an
    # AttributeError on torch.ops.arl2, far from the cause.
    lib = _HERE / "libarl2_ops.so"
    if not lib.exists():
        raise ImportError(f"arl2: {lib} is missing; build it with {_REBUILD}")
    record = _HERE / "build_info.json"
    if record.exists():
        info = json.loads(record.read_text())
        if info["torch_version"] != torch.__version__:
            raise ImportError(
                f"arl2: libarl2_ops.so and arl2._C in {_HERE} were built for torch {info['torch_version']}, "
                f"but torch {torch.__version__} is running; rebuild both for it with {_rebuild_command(info)}"
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
