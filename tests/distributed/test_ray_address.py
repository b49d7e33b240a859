"""`--address HOST:PORT` where no Ray cluster listens: a clear error within seconds.

Ray alone keeps retrying such an address for about 14 minutes, printing only
warnings; the commands probe it first (`rag.distributed.check_reachable`).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from testkit import normalize_ws, write_corpus

from rag.distributed import RayUnavailable, check_reachable


def closed_port() -> int:
    """A local port nothing listens on (bound once by the OS, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "command",
    [["ingest", "docs", "--engine", "ray"], ["serve", "--replicas", "2", "--port", "0"]],
    ids=["ingest", "serve"],
)
def test_an_unreachable_address_fails_at_once_saying_how_to_start_a_cluster(
    ray_installed, tmp_path: Path, command: list[str]
):
    write_corpus(tmp_path / "docs")
    address = f"127.0.0.1:{closed_port()}"
    args = [*command, "--address", address, "--index-dir", str(tmp_path / "idx")]
    started = time.monotonic()
    done = subprocess.run(  # a hang fails the test with TimeoutExpired
        [sys.executable, "-m", "rag_app", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert time.monotonic() - started < 60
    assert done.returncode == 1, done.stderr
    assert f"cannot connect to a Ray cluster at '{address}' ([Errno 111] Connection refused)" in (
        normalize_ws(done.stderr)
    )
    assert "start one with `ray start --head`" in normalize_ws(done.stderr)
    assert not (tmp_path / "idx").exists()


def test_the_probe_passes_where_something_listens():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_reachable(f"127.0.0.1:{server.getsockname()[1]}")
        check_reachable("auto")  # left to Ray, which finds the local cluster itself
    with pytest.raises(RayUnavailable, match="Connection refused"):
        check_reachable(f"127.0.0.1:{closed_port()}")
