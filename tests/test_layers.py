"""The package's layers: every import points down (core <- teachers <- nas <- report <- api <- cli),
and no two modules import each other, directly or round a longer loop (imports inside functions
count: they are dependencies all the same)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gtn_nas"
# What each layer may import besides itself; `gtn_nas` (the package root: __version__, lazy
# re-exports) and `search_spaces` (data files) are below everything.
LAYERS = {"core": 0, "teachers": 1, "nas": 2, "report": 3, "api": 4, "cli": 5, "__main__": 6}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The gtn_nas modules (or packages) that the file imports, as absolute names."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != "gtn_nas":
                continue
            for alias in node.names:  # `from . import x` names a module when x is one
                sub = f"{base}.{alias.name}"
                found.add(sub if _exists(sub) else base)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "gtn_nas"}
    return {m for m in found if m != name}


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").exists() or (PACKAGE / rel / "__init__.py").exists()


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None  # the root package: below everything


GRAPH = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module):
    mine = layer(module)
    upward = [t for t in GRAPH[module] if mine is not None and (layer(t) or 0) > mine]
    assert not upward, f"{module} (layer {mine}) imports {upward} from a layer above"


def test_no_import_cycles():
    edges = {m: {t for t in ts if t in GRAPH} for m, ts in GRAPH.items()}
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(t) :] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m)


def test_the_walk_sees_the_package():
    assert "gtn_nas.teachers.distillation" in GRAPH and "gtn_nas.core.data" in GRAPH["gtn_nas.teachers.distillation"]


TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("path", sorted(TESTS.rglob("test_*.py")), ids=lambda p: str(p.relative_to(TESTS)))
def test_test_files_mirror_the_package_and_stay_short(path):
    """tests/<layer>/ holds the tests of gtn_nas/<layer>/ (tests/lab/ those of benchmarks/); the
    package-wide checks sit at the top. No test file is over 400 lines."""
    folder = path.parent.relative_to(TESTS).parts
    assert folder == () or (folder[0] in set(LAYERS) - {"__main__"} | {"lab"} and len(folder) == 1), folder
    assert len(path.read_text().splitlines()) <= 400
