"""A local in-process Ray cluster (2 CPUs) shared by the Ray tests.

The tests skip, saying why, only when the `ray` extra is not installed; under
``CI=true`` a missing Ray fails them (CI installs it: `scripts/test.sh`).
"""

from __future__ import annotations

import os

import pytest

INSTALL = 'pip install -e ".[ray]" (or RAG_EXTRAS=ray ./scripts/bootstrap.sh)'


@pytest.fixture(scope="session")
def ray_installed():
    """The ray module; a skip saying why without it (a failure under CI=true)."""
    try:
        import ray
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"ray is not installed, but CI must run the Ray tests: {INSTALL}")
        pytest.skip(f"the ray extra is not installed: {INSTALL}")
    return ray


@pytest.fixture(scope="session")
def ray_cluster(ray_installed):
    ray = ray_installed
    from rag.distributed import code_runtime_env

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        runtime_env=code_runtime_env(),
        logging_level="warning",
    )
    try:
        yield ray
    finally:
        ray.shutdown()
