"""results/README.md and PROVENANCE.md (from manifest.json) and the per-folder notes."""

from __future__ import annotations

from .inputs import Inputs, _cell, run_commands


def index_md(manifest: dict) -> str:
    """results/README.md: the questions these results answer, each with the files that answer it."""
    rows = [
        f"| {_cell(q['question'])} | " + ", ".join(_link(a.strip()) for a in q["answer"].split(",")) + " |"
        for q in manifest.get("questions", [])
    ]
    return (
        "# Results\n\n"
        "What each result here answers, and where to read the answer. Every Markdown file and plot is "
        "rebuilt from the raw files (CSV, JSON, checkpoints) by `python benchmarks/report.py`, which trains "
        f"nothing. Machine: {manifest['machine']}. Every file, the command that made it and whether it ran "
        "alone: [`PROVENANCE.md`](PROVENANCE.md).\n\n"
        "| question | answer |\n|---|---|\n" + "\n".join(rows) + "\n"
    )


def _link(answer: str) -> str:
    """`path (note)` as a Markdown link to the path, the note after it."""
    path, _, note = answer.partition(" (")
    return f"[`{path}`]({path})" + (f" ({note}" if note else "")


def provenance_md(manifest: dict, commands: dict[str, dict]) -> str:
    """results/PROVENANCE.md: one row per manifest entry whose sidecar exists (`commands`: sidecar → JSON)."""
    rows = []
    for e in manifest["files"]:
        side = e.get("sidecar")
        if side and side not in commands:
            continue  # not produced yet
        runs = commands[side].get("runs") if side else None
        runs = runs if runs and all(isinstance(r, dict) for r in runs) else None  # a list of {command, note}
        if e.get("command"):
            made = f"`{e['command']}`"
        elif runs:  # several commands left rows in one table (each run's note beside it)
            made = run_commands(runs, ", {}")
        else:
            made = f"`{commands[side]['command']}`"
        note = None if runs or not side else commands[side].get("note")  # several runs carry their own notes
        extra = [x for x in (note, e.get("note")) if x]
        made += "".join(f", {x}" for x in extra) + (f" (`{side}`)" if side else "")
        rows.append(f"| {_cell(e['path'])} | {_cell(e['what'])} | {_cell(made)} | {_cell(e.get('alone', ''))} |")
    head = (
        "# Results: every file and the command that made it\n\n"
        f"Everything here was produced by the commands written beside it, on this project's development machine: "
        f"{manifest['machine']}. Which runs had the machine to themselves and which shared it is said per file below; "
        "compare methods by the ratios measured in one run.\n\n"
        "Every Markdown file and plot here is rebuilt from the raw files (CSV, JSON, checkpoints) by "
        "`python benchmarks/report.py`, which trains nothing; this index comes from `manifest.json`, "
        "each command from the JSON file named beside it.\n\n"
        "| path | what | made by | alone? |\n|---|---|---|---|\n"
    )
    return head + "\n".join(rows) + "\n"


def folder_readme_md(note: dict) -> str:
    return f"# {note['title']}\n\n" + "\n".join(note["text"]) + "\n"


def _index(inputs: Inputs) -> dict:
    manifest = inputs.json("manifest.json", ("machine", "files"))
    sides = {e["sidecar"] for e in manifest["files"] if e.get("sidecar")}
    commands = {s: inputs.json(s, ("command",)) for s in sorted(sides) if inputs.exists(s)}
    out = {"README.md": index_md(manifest), "PROVENANCE.md": provenance_md(manifest, commands)}
    for folder, note in manifest.get("folders", {}).items():
        out[f"{folder}/README.md"] = folder_readme_md(note)
    return out
