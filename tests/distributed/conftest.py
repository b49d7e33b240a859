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
    from rag.distributed import allow_slow_start, code_runtime_env

    allow_slow_start()

    for attempt in (1, 2):  # a raylet can fail to register on a machine busy with other work
        try:
            ray.init(
                num_cpus=2,
                include_dashboard=False,
                runtime_env=code_runtime_env(),
                logging_level="warning",
            )
            break
        except Exception:  # noqa: BLE001 - retried once, then reported
            ray.shutdown()
            if attempt == 2:
                raise
    try:
        yield ray
    finally:
        ray.shutdown()
