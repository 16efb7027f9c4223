"""Typed errors. The CLI turns each into a one-line message and a non-zero exit."""


class GtnNasError(Exception):
    """Base class for every error gtn-nas reports to users."""


class DataError(GtnNasError):
    """MNIST is missing, truncated or corrupt."""


class SpaceError(GtnNasError):
    """A search-space file or architecture spec is invalid."""


class CheckpointError(GtnNasError):
    """A file is not a gtn-nas teacher checkpoint (or is unsafe to load)."""


class ConfigError(GtnNasError):
    """An option value is out of range or inconsistent with others."""
