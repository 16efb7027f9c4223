"""Results reporting: every Markdown file and plot under results/, rebuilt from the raw files there.

A `Section` names the raw files it reads (paths relative to the results folder) and builds
{relative output path: Markdown text or Figure} from them. `build_report` runs every section; one
whose inputs are absent is skipped and listed as missing, not failed. Everything is rendered in
memory first, so a corrupt input (an unparsable CSV, a missing column or key) stops the report with
a one-line `ReportInputError` before any file is written; `write_report` then writes each output
atomically, leaving unchanged files untouched. The same inputs give the same bytes (PNGs included).

Benchmarks call the same renderers (`*_md`, `repo_report.figures.*_figure`) on the files they
have just written, so each results file has one format, defined here. Commands live in JSON sidecars beside
the raw files (key "command"); `manifest.json` indexes them for results/README.md.

Modules: `inputs` (validated reading, formatting helpers), one per subject of pages (`index`,
`groundtruth`, `teachers`, `costs`, `nas`, `recipes`), `sections` (the registry: which raw files
each builder reads); this one builds and writes reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure

from gtn_nas.api import ConfigError, GtnNasError
from gtn_nas.api.lab import atomic_write

from . import figures as draw

# The pages, one module per subject; re-exported here, where benchmarks and readme_blocks import them.
from .costs import (
    DISTRIBUTED_SPEED,
    DISTRIBUTED_VARIANCE,
    distributed_md,
    faults_md,
    ift_alignment_md,
    ift_alignment_table,
    ift_floor_md,
    ift_floor_table,
    meta_cost_md,
    meta_cost_table,
    meta_speed_md,
)
from .groundtruth import ground_truth_md, yardstick_md
from .index import index_md
from .inputs import Inputs, MissingInput, ReportInputError, flag, read_csv, read_json
from .nas import (
    COMBINATION_NUMERIC,
    FRONTIER_COLUMNS,
    FRONTIER_NUMERIC,
    combination_pivot,
    frontier_md,
    frontier_table,
    nas_combination_md,
    nas_commands_md,
    nas_correlation_md,
    search_md,
)
from .sections import SECTIONS, Section
from .teachers import (
    ABLATION_COLUMNS,
    QUALITY_NUMERIC,
    ablation_md,
    clip_ablation_md,
    curves_md,
    recalibration_md,
    teacher_quality_md,
    teacher_samples_figure,
    wall_time_md,
)

__all__ = [
    "ABLATION_COLUMNS",
    "COMBINATION_NUMERIC",
    "DISTRIBUTED_SPEED",
    "DISTRIBUTED_VARIANCE",
    "FRONTIER_COLUMNS",
    "FRONTIER_NUMERIC",
    "QUALITY_NUMERIC",
    "SECTIONS",
    "Inputs",
    "MissingInput",
    "Report",
    "ReportInputError",
    "Section",
    "ablation_md",
    "build_report",
    "clip_ablation_md",
    "combination_pivot",
    "curves_md",
    "distributed_md",
    "faults_md",
    "find_readme",
    "flag",
    "frontier_md",
    "frontier_table",
    "ground_truth_md",
    "ift_alignment_md",
    "ift_alignment_table",
    "ift_floor_md",
    "ift_floor_table",
    "index_md",
    "meta_cost_md",
    "meta_cost_table",
    "meta_speed_md",
    "nas_combination_md",
    "nas_commands_md",
    "nas_correlation_md",
    "read_csv",
    "read_json",
    "recalibration_md",
    "search_md",
    "stale",
    "teacher_quality_md",
    "teacher_samples_figure",
    "to_bytes",
    "wall_time_md",
    "write_outputs",
    "write_report",
    "write_section",
    "yardstick_md",
]


# -- building and writing -------------------------------------------------------------------------


def _guarded(build: Callable, inputs: Inputs, what: str):
    """Run a renderer; data that parses but cannot be rendered (wrong types, empty tables) is an
    input problem: one line naming the files the renderer read."""
    try:
        return build()
    except (MissingInput, GtnNasError):
        raise
    except (KeyError, ValueError, TypeError, IndexError, ZeroDivisionError, AttributeError) as exc:
        files = ", ".join(str(inputs.root / r) for r in inputs.read) or str(inputs.root)
        raise ReportInputError(f"{files}: cannot render {what} ({type(exc).__name__}: {str(exc)[:160]})") from None


def to_bytes(output) -> bytes:
    return draw.png_bytes(output) if isinstance(output, Figure) else output.encode()


@dataclass
class Report:
    """Rendered outputs (path relative to the output folder → bytes), what was missing, the
    refreshed narrative documents (path → bytes: the README when one was asked for, and every
    Markdown file under results/ with `<!-- results:NAME -->` blocks), and Markdown files under
    results/ that nothing renders or refreshes (`unguarded`: their numbers are typed, not made)."""

    files: dict[str, bytes] = field(default_factory=dict)
    missing: list[tuple[str, list[str]]] = field(default_factory=list)
    docs: dict[Path, bytes] = field(default_factory=dict)
    unguarded: list[Path] = field(default_factory=list)


def _absent(inputs: Inputs, patterns: tuple[str, ...]) -> list[str]:
    return [p for p in patterns if not (any(inputs.root.glob(p)) if any(ch in p for ch in "*?[") else inputs.exists(p))]


def build_report(
    results: str | Path,
    readme: str | Path | None = None,
    sections: tuple[Section, ...] = SECTIONS,
    figures: bool = True,
) -> Report:
    """Render every section whose inputs exist (in memory; nothing is written). Without `figures`,
    PNGs are left out (drawing them is most of the time; `stale` does not compare them)."""
    results = Path(results)
    if not results.is_dir():
        raise ConfigError(f"{results}: no such results folder")
    inputs, rep = Inputs(results), Report()
    for section in sections:
        absent = _absent(inputs, section.inputs)
        if absent:
            rep.missing.append((section.name, absent))
            continue
        inputs.read = []
        try:
            outputs = _guarded(lambda s=section: s.build(inputs), inputs, f"section {section.name}")
            rendered = {
                rel: _guarded(lambda o=out: to_bytes(o), inputs, rel)
                for rel, out in outputs.items()
                if figures or not isinstance(out, Figure)
            }
        except MissingInput as exc:
            rep.missing.append((section.name, exc.paths))
            continue
        clash = set(rendered) & set(rep.files)
        assert not clash, f"two sections write {clash}"
        rep.files.update(rendered)
    from .readme_blocks import render_readme  # it builds on this module's inputs and tables

    for doc in ([Path(readme)] if readme is not None else []) + narrative_docs(results):
        text, missing = render_readme(doc.read_text(), results)
        rep.docs[doc] = text.encode()
        if missing:
            rep.missing.append((str(doc), missing))
    # COMMANDS.md files record the commands a study ran (their results live in the files above)
    rep.unguarded = [
        p
        for p in sorted(results.rglob("*.md"))
        if p.name != "COMMANDS.md" and str(p.relative_to(results)) not in rep.files and p not in rep.docs
    ]
    return rep


def narrative_docs(results: Path) -> list[Path]:
    """Markdown files under results/ written by hand around generated `<!-- results:NAME -->` blocks."""
    return [p for p in sorted(results.rglob("*.md")) if "<!-- results:" in p.read_text()]


def find_readme(out: str | Path) -> Path | None:
    """The README.md beside the output folder, if it has `<!-- results:NAME -->` blocks."""
    path = Path(out).resolve().parent / "README.md"
    return path if path.is_file() and "<!-- results:" in path.read_text() else None


def _targets(rep: Report, out: Path) -> dict[Path, bytes]:
    targets = {out / rel: data for rel, data in sorted(rep.files.items())}
    targets.update(rep.docs)
    return targets


def write_report(rep: Report, out: str | Path) -> tuple[list[Path], list[Path]]:
    """Write every output whose bytes differ from the file on disk, atomically: (written, unchanged)."""
    written, unchanged = [], []
    for path, data in _targets(rep, Path(out)).items():
        if path.is_file() and path.read_bytes() == data:
            unchanged.append(path)
            continue
        atomic_write(path, lambda tmp, d=data: tmp.write_bytes(d))
        written.append(path)
    return written, unchanged


def stale(rep: Report, out: str | Path) -> list[Path]:
    """Markdown outputs (and the README) that differ from the files on disk. PNGs are not compared:
    their bytes depend on the matplotlib and FreeType build, not only on the data."""
    return [
        p
        for p, data in _targets(rep, Path(out)).items()
        if p.suffix == ".md" and not (p.is_file() and p.read_bytes() == data)
    ]


def write_section(name: str, results: str | Path, out: str | Path | None = None) -> list[Path]:
    """Render the section `name` from `results` and write its outputs under `out` (default:
    `results`): what a benchmark calls right after writing the section's raw files."""
    section = {s.name: s for s in SECTIONS}[name]
    rep = build_report(results, sections=(section,))
    if rep.missing:
        raise ReportInputError(f"{results}: section {name} is missing {', '.join(rep.missing[0][1])}")
    return write_report(rep, results if out is None else out)[0]


def write_outputs(outputs: dict, folder: str | Path) -> list[Path]:
    """Write renderer outputs ({relative path: text or Figure}) under `folder`, atomically (benchmarks)."""
    paths = []
    for rel, out in outputs.items():
        data = to_bytes(out)
        atomic_write(Path(folder) / rel, lambda tmp, d=data: tmp.write_bytes(d))
        paths.append(Path(folder) / rel)
    return paths
