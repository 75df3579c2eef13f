"""The helpers import each other without a circle.

Every module of ``helpers/`` (the ``helpers.attacks`` submodules each count as a module) is
parsed with ``ast``; every import of another helpers module, at the top or inside a
function, absolute (``import helpers.x``, ``from helpers.x import y``) or relative
(``from . import x``, ``from .x import y``, ``from ..x import y``), is an edge. Importing a
submodule also runs its package's ``__init__``, so ``from .attacks.common import y`` is an
edge to ``helpers.attacks`` too (but not to a package the importer itself lives in: that
one is already loaded). Imports under ``if TYPE_CHECKING:`` never run and are left out.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "helpers"


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__.py``)."""
    found = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


class _Imports(ast.NodeVisitor):
    """The imports of one module that can run, as (absolute base, names imported from it)."""

    def __init__(self) -> None:
        self.found: list[tuple[int, str | None, list[str]]] = []

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else None
        if name == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((0, alias.name, []))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.found.append((node.level, node.module, [alias.name for alias in node.names]))


def imported_modules(name: str, source: str, modules: dict[str, Path]) -> set[str]:
    """The helpers modules that importing ``name`` (whose text is ``source``) may import."""
    visitor = _Imports()
    visitor.visit(ast.parse(source))
    package = name if _is_package(name, modules) else name.rpartition(".")[0]
    targets: set[str] = set()
    for level, module, names in visitor.found:
        if level:
            base_parts = package.split(".")
            if level > 1:
                base_parts = base_parts[: -(level - 1)]
            base = ".".join(base_parts + ([module] if module else []))
        else:
            base = module
        if base != PACKAGE and not base.startswith(PACKAGE + "."):
            continue
        hits = [f"{base}.{n}" for n in names if f"{base}.{n}" in modules]  # `from pkg import submodule`
        if base in modules and (not names or len(hits) < len(names)):
            hits.append(base)  # a name defined in base itself (or a plain `import base`)
        assert hits, f"{name}: an import of {base} names no module of {PACKAGE}/"
        for hit in hits:
            targets.add(hit)
            targets.update(a for a in _ancestors(hit) if a in modules)  # parents' __init__ run first
    own = set(_ancestors(name)) | {name}
    return {t for t in targets if t not in own}


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imported_modules(name, path.read_text(), modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_helpers_import_each_other_without_a_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert {"helpers.attacks", "helpers.attacks.common", "helpers.attacks.gradient", "helpers.attacks.square",
            "helpers.attacks.l0", "helpers.caper", "helpers.train", "helpers.models"} <= set(graph)
    assert "helpers.attacks.gradient" in graph["helpers.attacks"]  # from .gradient import ...
    assert "helpers.checks" in graph["helpers.attacks.common"]  # from ..checks import ...
    assert "helpers.attacks" in graph["helpers.robustness"]  # from . import attacks
    assert {"helpers.caper", "helpers.models"} <= graph["helpers.scoreboard"]  # from . import caper, ..., models
    assert {"helpers.attacks", "helpers.attacks.common"} <= graph["helpers.caper"]  # from .attacks.common import ...
    assert "helpers.train" in graph["helpers.routing"]  # an import inside a function
    assert "helpers.checks" in graph["helpers.norms"]  # from helpers.checks import ...
    assert "helpers.attacks" not in graph["helpers.attacks.common"]  # its own package is already loaded


def test_train_imports_nothing_from_models():
    assert "helpers.models" not in import_graph()["helpers.train"]


def test_a_back_import_would_be_caught():
    """The same check on a copy of the graph with ``helpers.train`` importing ``helpers.models``
    again (the circle models -> routing -> train -> models this layout removed)."""
    modules = module_files()
    source = modules["helpers.train"].read_text() + "\n\ndef _back():\n    from .models import load_pretrained\n"
    graph = import_graph()
    graph["helpers.train"] = imported_modules("helpers.train", source, modules)
    cycle = find_cycle(graph)
    assert cycle is not None and {"helpers.models", "helpers.routing", "helpers.train"} <= set(cycle)


@pytest.mark.parametrize("name,line", [
    ("helpers.attacks", "from .. import caper"),
    ("helpers.attacks.common", "from ..caper import glasses"),
    ("helpers.attacks.l0", "import helpers.caper"),
    ("helpers.attacks.square", "from helpers import caper"),
])
def test_a_back_import_from_an_attack_module_would_be_caught(name, line):
    """``helpers.caper`` imports ``helpers.attacks``: an attack module importing the caper back
    (which is why the glasses are not re-exported from ``helpers.attacks``) is a circle."""
    modules = module_files()
    graph = import_graph()
    graph[name] = imported_modules(name, modules[name].read_text() + "\n" + line + "\n", modules)
    cycle = find_cycle(graph)
    assert cycle is not None and "helpers.caper" in cycle


def test_every_public_name_exists():
    """Each helpers module's ``__all__`` names only what the module defines (a removed function
    left in ``__all__`` breaks ``from helpers.x import *``)."""
    import importlib
    import pkgutil

    import helpers

    names = [m.name for m in pkgutil.walk_packages(helpers.__path__, "helpers.")]
    assert "helpers.scoreboard" in names and "helpers.attacks.l0" in names
    for name in names:
        module = importlib.import_module(name)
        missing = [n for n in getattr(module, "__all__", []) if not hasattr(module, n)]
        assert not missing, f"{name}.__all__ names what it does not define: {missing}"
