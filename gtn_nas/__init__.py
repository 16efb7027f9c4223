"""gtn-nas: neural architecture search on learned synthetic data."""

__version__ = "0.1.0"
