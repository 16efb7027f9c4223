"""What the benchmark scripts share: their parser and repeated options, a run's metadata (the exact
command, the date, the machine) and the writing of their outputs.

The scripts run as `python benchmarks/NAME.py`, so this folder is first on `sys.path` and
`import common` finds this file. Nothing here imports gtn_nas or torch when it is imported: the
subprocess workers of meta_cost.py and meta_speed.py start fast, and meta_speed.py's workers import
an older gtn-nas (a baseline revision) that has none of today's modules.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

GROUND_TRUTH = Path("results/ground_truth/convnet.csv")  # the 60 ConvNets, 1 epoch of Adam
LONG_GROUND_TRUTH = Path("results/ground_truth/convnet_3ep.csv")  # 20 of them, 3 epochs (benchmarks/yardstick.py)


# -- arguments ------------------------------------------------------------------------------------


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The script's parser, its module docstring as the description (line breaks kept)."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_threads(ap: argparse.ArgumentParser, default: int = 1, help: str | None = None) -> None:
    """`--threads`: torch intra-op threads (of each worker, where the script has workers)."""
    ap.add_argument("--threads", type=int, default=default, help=help)


def add_workers(ap: argparse.ArgumentParser, help: str | None = None) -> None:
    ap.add_argument("--workers", type=int, default=2, help=help)


def add_bootstrap(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--bootstrap", type=int, default=1000)


def add_ground_truth(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--ground-truth", type=Path, default=GROUND_TRUTH)


def add_long_ground_truth(ap: argparse.ArgumentParser, help: str | None = None) -> None:
    ap.add_argument("--long-ground-truth", type=Path, default=LONG_GROUND_TRUTH, help=help)


def clips(text: str) -> tuple[float | None, ...]:
    """`--clips none,1` -> (None, 1.0): gradient-norm clips for a calibration grid ('none' = no clip)."""
    return tuple(None if c == "none" else float(c) for c in text.split(","))


# -- metadata -------------------------------------------------------------------------------------


def command() -> str:
    """This run's command line, as a shell would take it back (the report re-parses its flags)."""
    return "python " + shlex.join(sys.argv)


def utc_now() -> str:
    """The date of a run, in the one format every benchmark records: ISO 8601, UTC, e.g. 2026-12-04T23:55:05Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def hardware(threads: int | str | None = None) -> str:
    """The machine in one line: CPU model, logical CPUs, the torch threads the measured work ran
    with (default: this process's), and the GPU if there is one."""
    import torch

    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
    except OSError:
        cpu = ""
    cpu = cpu or platform.processor() or platform.machine()
    threads = torch.get_num_threads() if threads is None else threads
    gpu = f"GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} logical CPUs, {threads} thread{'' if str(threads) == '1' else 's'}, {gpu}"


def metadata(hardware_threads: int | str | None = None, **fields) -> dict:
    """A run's record: its command, date and hardware, then `fields`. The hardware's threads are
    `hardware_threads`, else a `threads` field, else this process's."""
    threads = fields.get("threads") if hardware_threads is None else hardware_threads
    return {"command": command(), "date": utc_now(), "hardware": hardware(threads), **fields}


# -- outputs --------------------------------------------------------------------------------------


def write_json(path: Path, obj, indent: int | None = 1) -> None:
    """`obj` as JSON with a final newline, written atomically."""
    from gtn_nas.api import write_text

    write_text(path, json.dumps(obj, indent=indent) + "\n")


def write_outputs(out: Path, frame=None, meta: dict | None = None, indent: int | None = 1) -> None:
    """OUT.csv (the table) and OUT.json (the metadata, the exact command among it), atomically."""
    from gtn_nas.api import write_csv

    if frame is not None:
        write_csv(frame, out.with_suffix(".csv"))
    if meta is not None:
        write_json(out.with_suffix(".json"), meta, indent)


def write_md(path: Path, md: str, echo: bool = True) -> None:
    """A Markdown page the script rendered (as `python benchmarks/report.py` renders it), and on screen."""
    from gtn_nas.api import write_text

    write_text(path, md)
    if echo:
        print(md)


def space_file(specs: list[dict], path: Path, name: str = "bench") -> Path:
    """A search-space TOML of exactly these architectures (`[[arch]]` tables), for `DistillConfig.space`
    (which takes a built-in name or a .toml path, in every gtn-nas version since 0.1)."""

    def value(v) -> str:
        if isinstance(v, bool | int | float | str):
            return json.dumps(v)  # a JSON scalar is the same TOML scalar
        raise TypeError(f"{name}: cannot write {v!r} to a space file")

    tables = ["\n".join(["[[arch]]", *(f"{k} = {value(v)}" for k, v in spec.items())]) for spec in specs]
    path.write_text(f"name = {json.dumps(name)}\n\n" + "\n\n".join(tables) + "\n")
    return path
