"""`import arl2` against its build record (build_info.json, written by CMake): a library built for another
torch is refused before it loads, naming the folder and the command that rebuilds it (a CMake build, a pip
install or an editable one); a missing library is named as well. The checks run on copies of the package
imported under another name, so the real one stays loaded. Also: every registered op has its function in
arl2, documented with shapes and dtypes."""
import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import torch

import arl2

HERE = Path(arl2.__file__).parent


def package_copy(pkg: Path, record=None, with_library=True):
    shutil.copytree(HERE, pkg, ignore=shutil.ignore_patterns("*.so", "build_info.json", "__pycache__"))
    if with_library:  # never loaded: the checks refuse first
        (pkg / "libarl2_ops.so").symlink_to(HERE / "libarl2_ops.so")
    if record is not None:
        (pkg / "build_info.json").write_text(json.dumps(dict(cuda=False, git_sha="0000000", **record)))
    return pkg


def import_error(pkg: Path, monkeypatch) -> str:
    name = f"arl2_copy_{abs(hash(pkg))}"
    spec = importlib.util.spec_from_file_location(name, pkg / "__init__.py", submodule_search_locations=[str(pkg)])
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # for its relative imports
    with pytest.raises(ImportError) as excinfo:
        spec.loader.exec_module(module)
    return str(excinfo.value)


def test_the_build_record_is_this_torchs():
    record = json.loads((HERE / "build_info.json").read_text())
    assert record["torch_version"] == torch.__version__
    assert (Path(record["source_dir"]) / "CMakeLists.txt").exists()


def test_a_cmake_build_for_another_torch_names_the_build_to_redo(tmp_path, monkeypatch):
    src = tmp_path / "src"
    record = dict(torch_version="2.9.0", source_dir=str(src), build_dir=f"{src}/build/h1")
    pkg = package_copy(tmp_path / "site/arl2", record)
    message = import_error(pkg, monkeypatch)
    assert f"in {pkg} were built for torch 2.9.0, but torch {torch.__version__} is running" in message
    assert f"`cmake -S {src} -B {src}/build/h1 && cmake --build {src}/build/h1`" in message


@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_a_pip_install_for_another_torch_names_the_install_to_redo(tmp_path, monkeypatch, editable):
    src = tmp_path / "src"
    pkg = src / "python/arl2" if editable else tmp_path / "venv/site-packages/arl2"
    package_copy(pkg, dict(torch_version="2.9.0", source_dir=str(src), build_dir=f"{src}/build/py"))
    message = import_error(pkg, monkeypatch)
    assert f"`pip install --no-build-isolation {'-e ' if editable else ''}{src}`" in message


def test_a_missing_library_is_named(tmp_path, monkeypatch):
    pkg = package_copy(tmp_path / "arl2", with_library=False)
    assert f"{pkg}/libarl2_ops.so is missing" in import_error(pkg, monkeypatch)


def test_every_public_op_has_its_documented_function():
    # The registered schemas (ops/registration.cpp) against arl2's functions (ops.py): a new op needs both.
    ops = {n.split("::")[1] for n in torch._C._dispatch_get_all_op_names() if n.startswith("arl2::")}
    assert {n for n in ops if not n.startswith("_")} == set(arl2.__all__)
    for name in arl2.__all__:  # shapes and dtypes
        doc = getattr(arl2, name).__doc__
        assert re.search(r"\[(B|\.\.\.), ", doc) and "float32" in doc and "bfloat16" in doc, name
