"""Running `gtn-nas` in the test process, as the console script does, and checking its one-line errors."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from typer.testing import CliRunner

from gtn_nas.cli.commands import main


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str


def cli(*args) -> Run:
    """`gtn-nas ARGS` in this process, through `main` as the console script runs it: a GtnNasError
    becomes exit status 2 there, not in the Typer app, so CliRunner only isolates the streams."""
    with CliRunner().isolation() as (out, err, _):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
        return Run(code, out.getvalue().decode(), err.getvalue().decode())


def assert_one_line_error(run: Run, *needles):
    assert run.exit_code == 2, (run.exit_code, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    for needle in needles:
        assert needle in lines[0]
