"""Fixtures of the CLI tests."""

import pytest


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray of 2 CPUs for one test module (skipped without the ray extra)."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield ray
    ray.shutdown()
