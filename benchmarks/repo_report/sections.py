"""The registry of report sections: which raw files under results/ each group of pages is made
from, and the builder that makes them (one module per subject: `index`, `groundtruth`, `teachers`,
`costs`, `nas`, `recipes`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .costs import _distributed, _faults, _ift_alignment, _ift_floor, _meta_cost, _meta_speed
from .groundtruth import _ground_truth, _yardstick, rank_pool_md
from .index import _index
from .inputs import Inputs
from .nas import _frontier, _nas, _nas_combination, _rank_md, _search
from .rank_study import _rank_ablation, _rank_cost
from .recipes import _recipe_rank
from .teachers import (
    _ablation,
    _clip_ablation,
    _configs,
    _curves,
    _recalibration,
    _samples,
    _starts,
    _teacher_quality,
    _teacher_quality_in,
    _wall_time,
)


@dataclass(frozen=True)
class Section:
    """The raw files a group of outputs is made from, and the function that makes them."""

    name: str
    inputs: tuple[str, ...]  # relative to the results folder; a glob must match at least one file
    build: Callable[[Inputs], dict]


SECTIONS = (
    Section("index", ("manifest.json",), _index),
    Section("ground-truth", ("ground_truth/convnet.csv", "ground_truth/convnet.json"), _ground_truth),
    Section("yardstick", ("ground_truth/yardstick.csv", "ground_truth/yardstick.json"), _yardstick),
    Section("teachers", ("teachers/wall_time.csv", "teachers/wall_time.json"), _wall_time("teachers")),
    Section(
        "default-teachers",
        ("teachers/default/wall_time.csv", "teachers/default/wall_time.json"),
        _wall_time("teachers/default"),
    ),
    Section("ablation", ("teachers/ablation.csv",), _ablation),
    Section(
        "clip-ablation", ("teachers/clip_ablation.csv", "teachers/clip_ablation.json"), _clip_ablation("clip_ablation")
    ),
    # The same ablation on the ift and bptt teachers (a later run; the gm rows above are unchanged).
    Section(
        "clip-ablation-ift-bptt",
        ("teachers/clip_ablation_ift_bptt.csv", "teachers/clip_ablation_ift_bptt.json"),
        _clip_ablation("clip_ablation_ift_bptt"),
    ),
    Section(
        "recalibration", ("teachers/recalibration.csv", "teachers/recalibration.json"), _recalibration("recalibration")
    ),
    Section(
        "recalibration-ift",
        ("teachers/recalibration_ift.csv", "teachers/recalibration_ift.json"),
        _recalibration("recalibration_ift"),
    ),
    Section(
        "teacher-quality",
        ("teacher_quality/summary.csv", "teacher_quality/full_training.csv", "teacher_quality/command.json"),
        _teacher_quality,
    ),
    Section("samples", ("teachers/**/*.pt",), _samples),
    Section("teacher-configs", ("teachers/**/*.pt",), _configs),
    Section("curves", ("teacher_quality/curves.csv", "teacher_quality/curves.json"), _curves),
    Section("meta-speed", ("meta_speed.csv", "meta_speed.json"), _meta_speed),
    Section("meta-cost", ("meta_cost.csv", "meta_cost.json"), _meta_cost),
    Section("nas", ("nas_correlation.csv", "nas/commands.json", "nas/*.csv"), _nas("")),
    Section(
        "default-nas",
        ("teachers/default/nas_correlation.csv", "teachers/default/nas/commands.json", "teachers/default/nas/*.csv"),
        _nas("teachers/default/"),
    ),
    Section("frontier", ("nas_frontier.csv", "nas_frontier.json"), _frontier),
    Section("nas-combination", ("nas_combination.csv", "nas_combination.json"), _nas_combination),
    Section("search", ("search/summary.csv", "search/summary.json"), _search),
    Section("ift-alignment", ("ift_alignment.csv", "ift_alignment.json"), _ift_alignment),
    Section("ift-floor", ("ift_floor.csv", "ift_floor.json", "meta_speed.csv"), _ift_floor),
    Section("distributed", ("distributed.csv", "distributed_variance.csv", "distributed.json"), _distributed),
    Section("faults", ("faults.csv", "faults.json"), _faults("faults")),
    Section("faults-distill", ("faults_distill.csv", "faults_distill.json"), _faults("faults_distill")),
    # One-off studies kept beside their data (each folder's COMMANDS.md or README.md says what ran).
    Section(
        "default-e2e",
        ("teachers/default_e2e/wall_time.csv", "teachers/default_e2e/wall_time.json"),
        _wall_time("teachers/default_e2e"),
    ),
    Section(
        "warm15", ("teachers/warm15/wall_time.csv", "teachers/warm15/wall_time.json"), _wall_time("teachers/warm15")
    ),
    Section(
        "warm15-default",
        ("teachers/warm15/default/wall_time.csv", "teachers/warm15/default/wall_time.json"),
        _wall_time("teachers/warm15/default"),
    ),
    Section(
        "warm15-quality",
        (
            "teachers/warm15/quality/summary.csv",
            "teachers/warm15/quality/full_training.csv",
            "teachers/warm15/quality/command.json",
        ),
        _teacher_quality_in("teachers/warm15/quality"),
    ),
    Section(
        "warm15-nas",
        ("teachers/warm15/nas_correlation.csv",),
        _rank_md("teachers/warm15", "results/ground_truth/convnet.csv"),
    ),
    Section(
        "rank-pool",
        ("ground_truth/rank_pool.csv", "ground_truth/rank_pool.json", "ground_truth/convnet.csv"),
        rank_pool_md("rank_pool"),
    ),
    Section(
        "rank-pool-144",
        ("ground_truth/rank_pool_144.csv", "ground_truth/rank_pool_144.json", "ground_truth/convnet.csv"),
        rank_pool_md("rank_pool_144"),
    ),
    Section("rank-cost", ("teachers/rank_cost.csv", "teachers/rank_cost.json"), _rank_cost),
    Section(
        "rank-ablation",
        ("teachers/rank_ablation/summary.csv", "teachers/rank_ablation/summary.json"),
        _rank_ablation,
    ),
    Section(
        "rank-ablation-nas",
        ("teachers/rank_ablation/nas_correlation.csv",),
        _rank_md("teachers/rank_ablation", "results/ground_truth/convnet.csv"),
    ),
    Section("recipe-rank", ("teachers/recipe_rank/*.csv",), _recipe_rank),
    Section(
        "recipe-fixed",
        ("teachers/recipe_rank/fixed/nas_correlation.csv",),
        _rank_md("teachers/recipe_rank/fixed", "results/ground_truth/convnet.csv"),
    ),
    Section("starts", ("teachers/starts/summary.csv", "teachers/starts/summary.json"), _starts),
    Section(
        "starts-nas",
        ("teachers/starts/nas_correlation.csv",),
        _rank_md("teachers/starts", "results/ground_truth/convnet.csv"),
    ),
    Section(
        "starts-yardstick",
        ("teachers/starts/yardstick.csv",),
        _rank_md("teachers/starts", "results/ground_truth/convnet_3ep.csv", name="yardstick"),
    ),
    Section(
        "starts-cheap",
        ("teachers/starts/cheap.csv",),
        _rank_md("teachers/starts", "results/ground_truth/convnet.csv", name="cheap"),
    ),
)
