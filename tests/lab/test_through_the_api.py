"""benchmarks/ reaches the package through gtn_nas.api (workflows) and gtn_nas.api.lab (building
blocks) only, so that the lab exercises the surface users get."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INTERNAL = ("core", "teachers", "nas", "report", "cli")


def internal_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] == "gtn_nas" and len(parts) > 1 and parts[1] in INTERNAL:
                found.append(f"{node.module} (line {node.lineno})")
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[1:2] and a.name.split(".")[1] in INTERNAL]
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks").rglob("*.py")), ids=lambda p: p.name)
def test_benchmarks_import_only_the_api(path):
    assert not internal_imports(path), f"{path.name}: go through gtn_nas.api or gtn_nas.api.lab"


def test_the_check_sees_an_internal_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from gtn_nas.core.training import train_student\nimport gtn_nas.nas.ranking\n")
    assert sorted(internal_imports(bad)) == ["gtn_nas.core.training (line 2)", "gtn_nas.nas.ranking"]
