"""Reading the raw results files (validated, one-line errors) and small formatting helpers."""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path

import pandas as pd

from gtn_nas.api import GtnNasError


class ReportInputError(GtnNasError):
    """A results file the report reads is unreadable or lacks what its section needs."""


class MissingInput(Exception):
    """Inputs of a section do not exist: the section is skipped (not an error)."""

    def __init__(self, paths: list[str]):
        super().__init__(", ".join(paths))
        self.paths = paths


# -- reading inputs -------------------------------------------------------------------------------


def read_csv(path: str | Path, columns: tuple[str, ...] = (), numeric: tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSV with the given columns (and numeric ones), or a one-line ReportInputError naming it."""
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise ReportInputError(
            f"{path}: not a readable CSV ({(str(exc).strip().splitlines() or [type(exc).__name__])[0]})"
        ) from None
    missing = [c for c in (*columns, *numeric) if c not in frame.columns]
    if missing:
        raise ReportInputError(f"{path}: missing column(s) {', '.join(missing)}")
    for c in numeric:
        if not pd.api.types.is_numeric_dtype(frame[c]):
            raise ReportInputError(f"{path}: column {c} is not numeric")
    return frame


def read_json(path: str | Path, keys: tuple[str, ...] = ()) -> dict:
    """A JSON object with the given keys, or a one-line ReportInputError naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ReportInputError(f"{path}: expected a JSON object")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ReportInputError(f"{path}: missing key(s) {', '.join(missing)}")
    return data


class Inputs:
    """The results folder as a section sees it: validated reads, absent files raise MissingInput."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.read: list[str] = []  # what the current section read, for error messages

    def exists(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    def path(self, rel: str) -> Path:
        if not self.exists(rel):
            raise MissingInput([rel])
        self.read.append(rel)
        return self.root / rel

    def csv(self, rel: str, columns: tuple[str, ...] = (), numeric: tuple[str, ...] = ()) -> pd.DataFrame:
        return read_csv(self.path(rel), columns, numeric)

    def json(self, rel: str, keys: tuple[str, ...] = ()) -> dict:
        return read_json(self.path(rel), keys)

    def glob(self, pattern: str) -> list[str]:
        """Relative paths matching `pattern`, sorted; MissingInput when there are none."""
        found = sorted(str(p.relative_to(self.root)) for p in self.root.glob(pattern) if p.is_file())
        if not found:
            raise MissingInput([pattern])
        return found

    def in_results(self, path: str, recorded_results: str = "results") -> str:
        """A path as a command recorded it (`results/x/y.csv`, where the command's results folder
        was `recorded_results`), relative to this results folder (`x/y.csv`); a path outside that
        folder is taken as the command took it (absolute, or relative to the working directory)."""
        try:
            return str(Path(path).relative_to(recorded_results))
        except ValueError:
            return str(Path(path).absolute())


# -- small formatting helpers ---------------------------------------------------------------------


def flag(command: str, name: str, default):
    """The value of option `name` in a recorded command line (`--x 3` or `--x=3`), else `default`."""
    args = shlex.split(command)
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return type(default)(args[i + 1])
        if a.startswith(name + "="):
            return type(default)(a.split("=", 1)[1])
    return default


def _blank_na(frame: pd.DataFrame) -> pd.DataFrame:
    """Empty text cells read back from a CSV are NaN; show them empty, as written."""
    text = [
        c
        for c in frame.columns
        if not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
    ]
    return frame.assign(**{c: frame[c].fillna("") for c in text})


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _num(v, fmt: str) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def _command_block(*commands: str) -> str:
    return "```\n" + "\n".join(commands) + "\n```\n"


def run_commands(runs: list[dict], note: str = " ({})") -> str:
    """Commands of several runs ({command, note}) in backticks, each note beside its command
    unless the command already carries it (`--note ...`)."""

    def one(r: dict) -> str:
        shown = r.get("note") and r["note"] not in r["command"]
        return f"`{r['command']}`" + (note.format(r["note"]) if shown else "")

    return "; ".join(one(r) for r in runs)
