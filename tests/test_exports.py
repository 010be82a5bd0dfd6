"""Public surface: what each package exports, and the one boundary to compiled code."""

from __future__ import annotations

import ast
import importlib
import types
from pathlib import Path

import pytest

from coverage_net.errors import CoverageNetError

ROOT = Path(__file__).resolve().parents[1]

PACKAGES = ["coverage_net.radio", "coverage_net.coverage", "coverage_net.cli",
            "firmware_bridge", "firmware_bridge.testing", "radio_sim", "coverage_net.store",
            "coverage_net.identity", "coverage_net.messages", "coverage_net.p2p",
            "coverage_net.p2p.testing", "coverage_net.node", "coverage_net.errors",
            "coverage_net.poc"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_resolve_and_public_names_are_listed(name):
    pkg = importlib.import_module(name)
    exported = set(pkg.__all__)
    assert len(exported) == len(pkg.__all__), "duplicate names in __all__"
    for attr in exported:
        assert hasattr(pkg, attr), f"{name}.__all__ lists {attr} but it does not exist"
    public = {a for a in dir(pkg) if not a.startswith("_")
              and not isinstance(getattr(pkg, a), types.ModuleType)}
    assert public - exported == set(), f"{name} has public names missing from __all__"


# modules a package deliberately keeps public (ARCHITECTURE.md names propagation.py; the
# ITM kernel has its own wrapper beside it)
PUBLIC_MODULES = {"coverage_net.radio": {"propagation", "longley_rice"},
                  "coverage_net.node": {"testnet"}}  # the whole network on one machine


@pytest.mark.parametrize("name", [p for p in PACKAGES
                                  if p not in ("coverage_net.cli", "coverage_net.errors")])
def test_implementation_modules_are_private(name):
    folder = ROOT.joinpath(*name.split("."))
    public_modules = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
    public_modules |= {p.parent.name for p in folder.glob("*/__init__.py")
                       if p.parent.name != "testing"}  # a testing tier is public by design
    assert public_modules == PUBLIC_MODULES.get(name, set())


# every package's base error: the CLI reports any of them as one line, by the common root
BASE_ERRORS = {"coverage_net.radio": "RadioError", "coverage_net.coverage": "CoverageError",
               "coverage_net.identity": "IdentityError", "coverage_net.messages": "MessageError",
               "coverage_net.store": "StoreError", "coverage_net.p2p": "P2PError",
               "firmware_bridge": "BridgeError", "radio_sim": "SimError",
               "coverage_net.poc": "PocError"}


@pytest.mark.parametrize(("name", "base"), BASE_ERRORS.items())
def test_every_package_error_derives_from_the_project_root(name, base):
    pkg = importlib.import_module(name)
    assert issubclass(getattr(pkg, base), CoverageNetError)
    errors = [getattr(pkg, a) for a in pkg.__all__ if isinstance(getattr(pkg, a), type)
              and issubclass(getattr(pkg, a), BaseException)]
    assert errors and all(issubclass(e, CoverageNetError) for e in errors), errors


def test_the_root_error_is_one_class():
    from coverage_net.radio import CoverageNetError as defined_in_layer_1

    assert CoverageNetError is defined_in_layer_1


@pytest.mark.parametrize(("kernel", "wrapper"), [
    ("_pathloss", "coverage_net/radio/propagation.py"),
    ("_itm", "coverage_net/radio/longley_rice.py"),
    ("_outline_rings", "coverage_net/coverage/_outline.py"),
    ("_geojson_rows", "coverage_net/coverage/_geojson.py"),
    ("_cellgeom_corners", "coverage_net/coverage/_cellgeom.py"),
])
def test_only_one_module_imports_each_kernel(kernel, wrapper):
    importers = []
    for path in (ROOT / "coverage_net").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n.split(".")[-1] == kernel for n in names):
                importers.append(path.relative_to(ROOT).as_posix())
    assert importers == [wrapper]


def test_kernel_is_the_compiled_extension():
    from coverage_net.radio import _pathloss

    assert Path(_pathloss.__file__).suffix in (".so", ".pyd")
    assert _pathloss.max_threads() >= 1


def test_setup_lists_kernel_sources_explicitly():
    setup = (ROOT / "setup.py").read_text(encoding="utf-8")
    assert '"ext/pathloss.pyx"' in setup
    for pyx in (ROOT / "ext").glob("*.pyx"):
        assert f'"ext/{pyx.name}"' in setup, f"{pyx.name} is not built by setup.py"
