"""gtn-nas: neural architecture search on learned synthetic data.

The Python API (see `gtn_nas.api`): `distill`, `load_teacher`, `ground_truth`, `evaluate`,
`search`, `rank`, `fuse`, with their dataclass configs. Names are imported on first use, so that
`import gtn_nas` (and the CLI's --help) stays fast.
"""

__version__ = "0.1.0"

_EXPORTS = {
    "distill": "api",
    "load_teacher": "api",
    "ground_truth": "api",
    "evaluate": "api",
    "search": "api",
    "rank": "api",
    "fuse": "api",
    "report_runs": "api",
    "export": "api",
    "calibrate": "api",
    "ground_truth_study": "api",
    "Distilled": "api",
    "SearchRun": "api",
    "DistillConfig": "teachers.distillation",
    "TeacherConfig": "teachers.generator",
    "GroundTruthConfig": "nas.ground_truth",
    "FullTraining": "core.training",
    "ProxySettings": "nas.proxies",
    "load_space": "core.spaces",
    "load_mnist": "core.data",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
