"""Scale-out on Ray (optional extra: ``pip install -e ".[ray]"``).

`rag.distributed.ingest` runs `rag ingest --engine ray` (Ray Data), and
`rag.distributed.serve` the answer replicas of `rag serve --replicas N` (Ray
Serve). Both connect with `ray_session`: to a running cluster (``address``
"auto" or "HOST:PORT", as `ray start --head` prints) or, without an address, to
a private in-process cluster that lives as long as the command.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

RAY_MISSING = (
    'Ray is not installed; install the extra with `pip install -e ".[ray]"` '
    "(or `RAG_EXTRAS=ray ./scripts/bootstrap.sh`)"
)


START_CLUSTER = (
    "start one with `ray start --head` (it prints the address) or leave out --address "
    "for a local one"
)
# Ray 2.60 retries an address where nothing listens for about 14 minutes (20 attempts
# of ~40 s; seen still retrying after 5), printing only warnings; a TCP connect tells
# within seconds.
PROBE_TIMEOUT_S = 5.0


class RayUnavailable(RuntimeError):
    """Ray is missing or the cluster cannot be reached; the message says what to do."""


def require_ray():
    """The ``ray`` module, or `RayUnavailable` with the install command."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(RAY_MISSING) from exc
    return ray


def code_runtime_env() -> dict:
    """Ship this checkout's `rag` package to the workers, so a cluster started
    elsewhere (or from another checkout) runs the same code as the driver."""
    package = Path(__file__).resolve().parents[1]
    return {
        "py_modules": [str(package)],
        "env_vars": {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")},
    }


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[object]:
    """Connect to Ray for one command; shut down only what this call started.

    ``address``: "auto" (the cluster `ray start --head` started on this machine)
    or "HOST:PORT"; None starts a private local cluster with ``num_cpus`` CPUs.
    An already initialised Ray (tests, notebooks) is used as it is.
    """
    ray = require_ray()
    allow_slow_start()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict = {
        "runtime_env": code_runtime_env(),
        "include_dashboard": False,
        "logging_level": "warning",
        "log_to_driver": True,
    }
    try:
        if address:
            check_reachable(address)
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
    except (ConnectionError, ValueError) as exc:  # ValueError: Ray's "Invalid address format"
        raise RayUnavailable(
            f"cannot connect to a Ray cluster at {address!r} ({exc}); {START_CLUSTER}"
        ) from exc
    try:
        yield ray
    finally:
        ray.shutdown()


def check_reachable(address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """`RayUnavailable` at once when nothing answers at a HOST:PORT ``address``
    ("auto" and an address without a port are left to Ray, which fails at once)."""
    host, sep, port = address.rpartition("://")[2].rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        reason = f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError) else exc
        raise RayUnavailable(
            f"cannot connect to a Ray cluster at {address!r} ({reason}); {START_CLUSTER}"
        ) from exc


def allow_slow_start() -> None:
    """Give Ray's agents two minutes to start (default: a few seconds), so that a
    local cluster starts on a machine busy with other work instead of its raylet
    giving up (an explicit value in the environment wins)."""
    os.environ.setdefault("RAY_agent_register_timeout_ms", "120000")


def cluster_cpus(ray) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
