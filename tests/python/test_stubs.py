"""python/arl2/_C.pyi against the built arl2._C: the same public names in the module and in each class, the
same kind (property or method), and for every function the same parameters in order with the same defaults
(read from the signature line pybind11 writes into each docstring), so the stubs cannot drift from
the bindings (python/bindings/)."""
import ast
import inspect
import types
from pathlib import Path

import pytest

import arl2

try:
    from arl2 import _C
except ImportError as e:
    pytest.skip(f"arl2._C is not built: {e}", allow_module_level=True)

STUB = ast.parse((Path(arl2.__file__).parent / "_C.pyi").read_text())
PROTOCOL = {"__init__", "__iter__", "__next__"}  # the dunders the bindings define


def public(names):
    return {n for n in names if not n.startswith("_") or n in PROTOCOL}


def stub_defs(body):
    return {d.name: d for d in body if isinstance(d, (ast.FunctionDef, ast.ClassDef)) and d.name in public([d.name])}


def stub_signature(fn: ast.FunctionDef):
    """[(name, default or None)] without self; defaults as Python values; **kwargs last, as "**kwargs"."""
    args = [a.arg for a in fn.args.args if a.arg != "self"]
    defaults = [ast.literal_eval(d) for d in fn.args.defaults]
    kwargs = [("**" + fn.args.kwarg.arg, None)] if fn.args.kwarg else []
    return list(zip(args, [None] * (len(args) - len(defaults)) + defaults)) + kwargs


def split_top_level(text):
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[({":
            depth += 1
        elif ch in "])}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [p.strip() for p in parts + [text[start:]] if p.strip()]


def bound_signature(name, obj):
    """The same from pybind11's first docstring line, `name(self: T, a: int, b: str = 'x') -> R`."""
    line = inspect.getdoc(obj).splitlines()[0]
    assert line.startswith(name + "("), f"{name}: no pybind11 signature line (overloaded?): {line}"
    params = line[len(name) + 1 : line.rindex(") -> ")]
    out = []
    for p in split_top_level(params):
        head, _, default = p.partition(" = ")
        arg = head.split(":")[0].strip()
        if arg != "self":
            out.append((arg, ast.literal_eval(default) if default else None))
    return out


def check_members(qualname, bound, stub_body):
    # A class without py::init gets pybind11's C slot __init__ (it raises "No constructor defined!").
    bound = {n: v for n, v in bound.items() if not isinstance(v, types.WrapperDescriptorType)}
    stub = stub_defs(stub_body)
    only_bound, only_stub = public(bound) - set(stub), set(stub) - public(bound)
    assert not only_bound and not only_stub, f"{qualname}: only bound {only_bound}, only in the stub {only_stub}"
    for name, node in stub.items():
        obj = bound[name]
        if isinstance(obj, staticmethod):
            obj = obj.__func__
        is_property = any(isinstance(d, ast.Name) and d.id == "property" for d in getattr(node, "decorator_list", []))
        if isinstance(node, ast.ClassDef):
            assert inspect.isclass(obj), f"{qualname}.{name} is not a class"
            check_members(name, dict(vars(obj)), node.body)
        elif is_property or isinstance(obj, property):
            assert is_property and isinstance(obj, property), f"{qualname}.{name}: property in one, method in the other"
        else:
            assert stub_signature(node) == bound_signature(name, obj), f"{qualname}.{name}"


def test_stub_matches_the_bound_module():
    check_members("arl2._C", dict(vars(_C)), STUB.body)


def stub_typed_dict_keys(name):
    (node,) = [d for d in STUB.body if isinstance(d, ast.ClassDef) and d.name == name]
    return [a.target.id for a in node.body if isinstance(a, ast.AnnAssign)]


def test_the_keyword_arguments_are_the_config_fields():
    # The C++ field tables give the keys and defaults of Config.hybrid and Config.generation, which are the
    # keyword arguments of convert_to_hybrid and generate: the stub's TypedDicts name the same keys, in order.
    config = _C.parse_config("model:\n  preset: tiny\nhybrid:\n  ratio: 0.5\n")
    assert stub_typed_dict_keys("_HybridOptions") == list(config.hybrid)
    assert stub_typed_dict_keys("_GenerationOptions") == list(config.generation)
    for fn, defaults in ((_C.WanDiT.convert_to_hybrid, dict(config.hybrid, ratio=None)),
                         (_C.WanDiT.generate, config.generation)):
        assert "; their defaults: " + ", ".join(f"{k}={v!r}" for k, v in defaults.items()) in inspect.getdoc(fn)


def test_the_stub_and_its_marker_ship_with_the_package():
    # py.typed tells type checkers to read _C.pyi; setup.py installs both (pyproject.toml's package-data).
    assert (Path(arl2.__file__).parent / "py.typed").exists()
