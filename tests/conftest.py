"""Shared fixtures. Tests use the real MNIST files: set GTN_NAS_DATA (CI points it at them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gtn_nas.core.data import load_mnist

FIXTURES = Path(__file__).parent / "fixtures"
TINY_SPACE = str(FIXTURES / "tiny.toml")


@pytest.fixture(scope="session")
def mnist():
    return load_mnist(download=False)


@pytest.fixture(scope="session")
def small_mnist(mnist):
    """Real MNIST cut down so that CLI-level tests run in seconds."""
    from gtn_nas.core.data import MNIST

    return MNIST(mnist.train.subset(2000, 0), mnist.val.subset(500, 0), mnist.test.subset(500, 0))


@pytest.fixture(autouse=True)
def _single_thread():
    # Two CI cores: keep tests from oversubscribing them.
    torch.set_num_threads(1)
