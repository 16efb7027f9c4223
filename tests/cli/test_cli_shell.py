"""The CLI is the API's shell: it imports only the API (and the error types), keeps no default of
its own where the API has one, stays short, and every command the README shows exists."""

import ast
import dataclasses
import inspect
import re
import shlex
from pathlib import Path

import pytest
import typer
from cli_run import assert_one_line_error, cli
from typer.testing import CliRunner

from gtn_nas import api
from gtn_nas.cli.commands import app

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "gtn_nas" / "cli"
ALLOWED = {"gtn_nas.api", "gtn_nas.core.errors"}


def _gtn_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                found.add(f"gtn_nas.cli.{node.module}" if node.module else "gtn_nas.cli")
            elif node.level == 2:
                names = [f"gtn_nas.{node.module}"] if node.module else [f"gtn_nas.{a.name}" for a in node.names]
                found.update(names)
            elif (node.module or "").startswith("gtn_nas"):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("gtn_nas")}
    return found


@pytest.mark.parametrize("path", sorted(CLI.glob("*.py")), ids=lambda p: p.name)
def test_the_cli_imports_only_the_api_and_its_errors(path):
    outside = {m for m in _gtn_imports(path) if not m.startswith("gtn_nas.cli")} - ALLOWED
    assert not outside, f"{path.name} imports {sorted(outside)}: go through gtn_nas.api"


def test_the_import_check_sees_an_internal_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from ..nas.workqueue import wait_for_queue\n")
    assert _gtn_imports(bad) == {"gtn_nas.nas.workqueue"}


COMMANDS = sorted(c.name or c.callback.__name__ for c in app.registered_commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_takes_device(command):
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0 and "--device" in result.output


@pytest.mark.parametrize("command", ["rank", "report", "fuse", "export"])
def test_a_bad_device_is_one_line_even_where_no_tensor_is_computed(command, tmp_path):
    args = {
        "rank": ["a.csv", "--ground-truth", "gt.csv"],
        "report": ["a.csv", "--ground-truth", "gt.csv", "--out", str(tmp_path / "r")],
        "fuse": ["a.csv", "--ground-truth", "gt.csv", "--out", str(tmp_path / "m.json")],
        "export": ["--teacher", "t.pt", "--out", str(tmp_path / "x.npz")],
    }[command]
    assert_one_line_error(cli(command, *args, "--device", "gpu"), "--device must be auto, cpu or cuda")


@pytest.mark.parametrize("path", sorted(CLI.glob("*.py")), ids=lambda p: p.name)
def test_no_cli_function_is_over_60_lines(path):
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 60
    ]
    assert not long


def _option(command: str, name: str):
    group = typer.main.get_command(app)
    return next(p for p in group.commands[command].params if name in p.opts)


def _default(cls, name):
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


# (command, option, the API's value): options that leave their default to the API quote it in their help.
API_DEFAULTS = [
    ("ground-truth", "--stale-after", api.STALE_AFTER),
    ("search", "--stale-after", api.STALE_AFTER),
    ("ground-truth", "--epochs", _default(api.FullTraining, "epochs")),
    ("ground-truth", "--schedule", _default(api.FullTraining, "schedule")),
    ("ground-truth", "--seeds", len(_default(api.GroundTruthConfig, "seeds"))),
    ("fuse", "--folds", inspect.signature(api.fuse).parameters["folds"].default),
    ("fuse", "--seed", inspect.signature(api.fuse).parameters["seed"].default),
    ("fuse", "--bootstrap", inspect.signature(api.fuse).parameters["n_boot"].default),
    ("search", "--steps", _default(api.ProxySettings, "steps")),
    ("search", "--momentum", _default(api.ProxySettings, "momentum")),
    ("search", "--lr-grid", ",".join(map(str, _default(api.ProxySettings, "lr_grid")))),
    ("search", "--n-trials", api.N_TRIALS),
    ("search", "--sampler", api.SAMPLER),
    ("search", "--proxy-seeds", _default(api.ProxySettings, "seeds")),
    ("calibrate", "--students", _default(api.CalibrationConfig, "students")),
    ("calibrate", "--clips", ",".join("none" if c is None else f"{c:g}" for c in api.CalibrationConfig.max_grad_norms)),
    ("distill", "--method", _default(api.DistillConfig, "method")),
    ("distill", "--seed", _default(api.DistillConfig, "seed")),
    ("distill", "--students-per-step", _default(api.DistillConfig, "students_per_step")),
    ("distill", "--inner-steps", _default(api.TeacherConfig, "inner_steps")),
    ("distill", "--batch-size", _default(api.TeacherConfig, "batch_size")),
]


@pytest.mark.parametrize(("command", "name", "value"), API_DEFAULTS, ids=lambda x: str(x))
def test_options_left_to_the_api_quote_its_default(command, name, value):
    option = _option(command, name)
    assert option.default is None  # the CLI passes nothing, so the API's default applies
    assert re.search(rf"\(default: {re.escape(str(value))}[;)]", option.help), option.help


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("gtn-nas "):
                lines.append(line)
    return lines


def test_the_readme_shows_commands():
    assert len(_readme_commands()) >= 5


@pytest.mark.parametrize("line", _readme_commands())
def test_every_readme_command_exists_with_its_options(line):
    """--help after the whole line: click still refuses an unknown command or option."""
    result = CliRunner().invoke(app, [*shlex.split(line)[1:], "--help"])
    assert result.exit_code == 0, f"{line}: {result.output}"


def test_a_wrong_readme_line_would_fail():
    result = CliRunner().invoke(app, ["search", "--no-such-option", "1", "--help"])
    assert result.exit_code != 0
