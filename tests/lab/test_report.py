"""`python benchmarks/report.py`: every Markdown file and plot under results/, rebuilt from the raw files.

The fixture (tests/fixtures/report/results) holds a few rows of each committed raw file, in the
committed formats, plus the formats the frontier, yardstick and search benchmarks write; a tiny
teacher checkpoint is made per test.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import report as report_script  # benchmarks/report.py (pytest's pythonpath)

from gtn_nas.core.checkpoint import save_checkpoint
from gtn_nas.teachers.config import DistillConfig
from gtn_nas.teachers.generator import Teacher, TeacherConfig
from repo_report import SECTIONS, write_section
from repo_report.readme_blocks import render_readme

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "report" / "results"
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

EXPECTED = sorted(
    [
        "README.md",
        "PROVENANCE.md",
        "distributed.md",
        "faults.md",
        "faults_distill.md",
        "ground_truth/README.md",
        "ground_truth/yardstick.md",
        "ground_truth/yardstick.png",
        "ift_alignment.md",
        "ift_floor.md",
        "meta_cost.md",
        "meta_cost.png",
        "meta_speed.md",
        "nas/COMMANDS.md",
        "nas/plots/all.png",
        "nas/plots/gm.png",
        "nas/plots/real.png",
        "nas_combination.md",
        "nas_correlation.md",
        "nas_frontier.md",
        "nas_frontier.png",
        "search/plots/tpe-teacher.png",
        "search/summary.md",
        "teacher_quality/curves.md",
        "teacher_quality/curves.png",
        "teacher_quality/samples_teacher_tiny.png",
        "teacher_quality/samples_untrained_generator.png",
        "teacher_quality/summary.md",
        "teachers/ablation.md",
        "teachers/default/README.md",
        "teachers/default/nas/COMMANDS.md",
        "teachers/default/nas/plots/all.png",
        "teachers/default/nas/plots/gm-15min.png",
        "teachers/default/nas_correlation.md",
        "teachers/default/wall_time.md",
        "teachers/wall_time.md",
        "teachers/tiny.toml",
        "teachers/clip_ablation.md",
        "teachers/recalibration.md",
        "teachers/clip_ablation_ift_bptt.md",
        "teachers/recalibration_ift.md",
        "teachers/default_e2e/wall_time.md",
        "teachers/warm15/wall_time.md",
        "teachers/warm15/default/wall_time.md",
        "teachers/warm15/quality/summary.md",
        "teachers/warm15/nas_correlation.md",
        "ground_truth/rank_pool.md",
        "ground_truth/rank_pool_144.md",
        "teachers/rank_cost.md",
        "teachers/rank_ablation/summary.md",
        "teachers/rank_ablation/families.md",
        "teachers/rank_ablation/nas_correlation.md",
        "teachers/recipe_rank/sweep.md",
        "teachers/recipe_rank/fixed/nas_correlation.md",
        "teachers/starts/summary.md",
        "teachers/starts/nas_correlation.md",
        "teachers/starts/yardstick.md",
        "teachers/starts/cheap.md",
    ]
)


def cli(capsys, *args) -> tuple[int, str, str]:
    """Run this repository's report (benchmarks/report.py) in this process: (exit status, stdout, stderr)."""
    code = report_script.main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def tiny_teacher(path: Path) -> None:
    cfg = DistillConfig(method="gm", teacher=TeacherConfig(inner_steps=2, batch_size=20, init="noise"), meta_steps=1)
    save_checkpoint(
        path,
        {
            "method": "gm",
            "config": cfg.to_dict(),
            "teacher": Teacher(cfg.teacher, seed=0).state_dict(),
            "meta_step": 0,
            "metrics": [],
        },
    )


@pytest.fixture
def results(tmp_path) -> Path:
    folder = tmp_path / "results"
    shutil.copytree(FIXTURE, folder)
    tiny_teacher(folder / "teachers" / "tiny.pt")
    return folder


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_empty_folder_lists_every_missing_input_and_writes_nothing(tmp_path, capsys):
    empty = tmp_path / "results"
    empty.mkdir()
    code, out, err = cli(capsys, "--results", empty)
    assert code == 0, err
    for section in SECTIONS:
        assert f"missing: {section.name}: " in out
    assert "missing: index: manifest.json" in out and "nas_frontier.csv" in out
    assert list(tmp_path.rglob("*")) == [empty]


def test_fixture_writes_every_file_and_the_same_bytes_again(results, tmp_path, capsys):
    out = tmp_path / "out"
    code, text, err = cli(capsys, "--results", results, "--out", out)
    assert code == 0, err
    assert "missing:" not in text and "0 section(s) skipped" in text  # the fixture feeds every section
    first = files(out)
    assert sorted(first) == EXPECTED
    for name, data in first.items():
        if name.endswith(".png"):
            assert data.startswith(b"\x89PNG") and b"Matplotlib" not in data  # no version text chunk
    code, text, _ = cli(capsys, "--results", results, "--out", out)
    assert code == 0 and f"0 written, {len(EXPECTED)} unchanged" in text
    assert files(out) == first  # same inputs, same bytes (Markdown and PNG)


def test_numbers_and_commands_come_from_the_raw_files(results, tmp_path, capsys):
    (results / "teachers" / "tiny.pt").unlink()  # no sample grids: quicker
    cost = pd.read_csv(results / "meta_cost.csv")
    cost.loc[0, "peak_mem_mb"] = 1234.5678
    cost.to_csv(results / "meta_cost.csv", index=False)
    assert cli(capsys, "--results", results)[0] == 0
    md = (results / "meta_cost.md").read_text()
    assert "| 1234.57 |" in md and "`python benchmarks/meta_cost.py --T 8,32,128 --repeats 1" in md
    index = (results / "PROVENANCE.md").read_text()
    assert "nas_frontier.py --steps 8 32" in index  # the command comes from the sidecar JSON
    assert "later.csv" not in index  # a row whose sidecar does not exist yet is left out
    frontier = (results / "nas_frontier.md").read_text()
    assert frontier.count("| yes |") == 5 + 6  # the fixture's Pareto fronts, one per ground truth


@pytest.mark.parametrize(
    "name, content, needle",
    [
        ("meta_cost.csv", b"\xff\xfe\x00\x01\x02", "not a readable CSV"),
        ("nas/gm.csv", b'arch_id,spec\n"never closed,1\n', "not a readable CSV"),
        ("teacher_quality/summary.csv", b"source\nreal\n", "missing column(s)"),
        (
            "meta_speed.csv",
            b"method,code,students,options,threads,sec_per_meta_step,meta_steps_per_min,"
            b"speedup_vs_0.1_same_students,speedup_vs_0.1_as_shipped\nbptt,new,s,{},2,fast,1,1,1\n",
            "not numeric",
        ),
        ("distributed.json", b"{not json", "not valid JSON"),
        ("teachers/tiny.pt", b"not a checkpoint", "tiny.pt"),
    ],
)
def test_corrupt_input_is_one_line_naming_the_file_and_nothing_is_written(
    results, tmp_path, capsys, name, content, needle
):
    (results / name).write_bytes(content)
    out = tmp_path / "out"
    code, _, err = cli(capsys, "--results", results, "--out", out)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and name in lines[0] and needle in lines[0], err
    assert not out.exists()  # everything is rendered before anything is written


def test_corrupt_input_from_the_real_command_has_no_traceback(results, tmp_path):
    (results / "manifest.json").write_bytes(b"\x00\xff\xfe")
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / "report.py"), "--results", str(results), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr.strip().startswith("error: ") and "manifest.json" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_readme_blocks_are_refilled_checked_and_left_alone_on_request(results, tmp_path, capsys):
    small = tmp_path / "small"  # only what the README blocks below read, so that the report is quick
    for name in ("meta_cost.csv", "meta_cost.json", "nas_frontier.csv", "nas_frontier.json"):
        (small / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(results / name, small / name)
    readme = tmp_path / "README.md"
    stale = (
        "# Project\n\nProse stays.\n\n<!-- results:memory -->\nold table\n<!-- /results:memory -->\n\nMore prose.\n\n"
        "<!-- results:frontier -->\n<!-- /results:frontier -->\n\n<!-- results:nope -->\nkept\n<!-- /results:nope -->\n"
    )
    readme.write_text(stale)
    assert cli(capsys, "--results", small, "--check")[0] == 1
    assert readme.read_text() == stale
    code, out, _ = cli(capsys, "--results", small, "--no-readme")
    assert code == 0 and readme.read_text() == stale
    code, out, _ = cli(capsys, "--results", small)  # README.md beside the output folder, found by its blocks
    assert code == 0 and "README block nope" in out
    text = readme.read_text()
    assert "old table" not in text and "Prose stays.\n" in text and "More prose.\n" in text and "kept" in text
    assert "| T | bptt MB | bptt-full MB |" in text and "| proxy | steps | val. examples |" in text
    assert cli(capsys, "--results", small, "--check")[0] == 0


def test_committed_readme_tables_match_the_committed_results():
    """The README's block and every narrative file's blocks under results/ equal what the committed
    results render (and the moved tables are all still somewhere)."""
    from repo_report import narrative_docs

    docs = [ROOT / "README.md", *narrative_docs(ROOT / "results")]
    blocks = set()
    for doc in docs:
        text = doc.read_text()
        blocks |= set(re.findall(r"<!-- results:([\w-]+) -->", text))
        rendered, missing = render_readme(text, ROOT / "results")
        assert not missing, (doc, missing)
        assert rendered == text, f"{doc}'s result tables differ from results/: run `python benchmarks/report.py`"
    assert {"headline", "speed", "memory", "ablation", "quality", "nas", "distributed", "ift-alignment"} <= blocks


def test_benchmarks_write_what_the_report_writes(results, tmp_path, capsys):
    import faults

    (results / "teachers" / "tiny.pt").unlink()  # no sample grids: quicker
    bench = tmp_path / "bench"
    bench.mkdir()
    for suffix in (".csv", ".json"):
        shutil.copy(results / f"faults{suffix}", bench / f"faults{suffix}")
    faults.summarise(bench / "faults")  # what benchmarks/faults.py writes after its runs
    alone = tmp_path / "alone"
    written = write_section("nas", results, alone)  # what benchmarks/nas_correlation.py writes after its runs
    assert sorted(str(p.relative_to(alone)) for p in written) == [
        "nas/COMMANDS.md",
        "nas/plots/all.png",
        "nas/plots/gm.png",
        "nas/plots/real.png",
        "nas_correlation.md",
    ]
    capsys.readouterr()
    assert cli(capsys, "--results", results)[0] == 0
    assert (bench / "faults.md").read_bytes() == (results / "faults.md").read_bytes()
    for path in written:
        assert path.read_bytes() == (results / path.relative_to(alone)).read_bytes()


def test_every_answer_the_results_index_names_exists():
    import json

    manifest = json.loads((ROOT / "results" / "manifest.json").read_text())
    answers = [a.strip().partition(" (")[0] for q in manifest["questions"] for a in q["answer"].split(",")]
    assert len(answers) >= 10
    missing = [a for a in answers if not (ROOT / "results" / a).exists()]
    assert not missing
