"""Which code produced a report: the git commit, stamped when source files differ from it.

A run writes its own outputs (an eval report directory, benchmark results, the
benchmark README's table) into the repository. Those files are not the code that
ran, so they must not mark the run as made from "local changes"; any other
tracked file that differs from HEAD still does.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

from evals.paths import REPO_ROOT

LOCAL_CHANGES = " +local changes"


def changed_paths(porcelain_z: str) -> list[str]:
    """Paths of ``git status --porcelain -z`` output (both sides of a rename or copy)."""
    fields = porcelain_z.split("\0")
    paths: list[str] = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:  # the empty field after the final NUL
            continue
        status, path = entry[:2], entry[3:]
        paths.append(path)
        if "R" in status or "C" in status:  # -z puts the original path in the next field
            paths.append(fields[i])
            i += 1
    return paths


def _relative(path: Path | str, root: Path) -> str | None:
    """``path`` (relative ones: to the working directory, like a command's ``--out``) as a
    POSIX path relative to ``root``; None when it lies outside ``root``."""
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def source_changes(paths: Iterable[str], ignore: Iterable[Path | str], root: Path) -> list[str]:
    """The changed ``paths`` that are not one of ``ignore`` (files or folders) or inside one."""
    ignored = [r for r in (_relative(p, root) for p in ignore) if r not in (None, "", ".")]
    return [p for p in paths if not any(p == ign or p.startswith(ign + "/") for ign in ignored)]


def _git(*args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(REPO_ROOT), *args],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    )
    return out.stdout


def git_commit(ignore: Iterable[Path | str] = ()) -> str | None:
    """Short HEAD commit, with ``+local changes`` when tracked source files differ from it.

    ``ignore``: the run's own output files or folders (absolute, or relative to the
    working directory); their changes are not source changes. Untracked files are
    not looked at.
    """
    try:
        sha = _git("rev-parse", "--short", "HEAD").strip()
        status = _git("status", "--porcelain", "-z", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    if not sha:
        return None
    dirty = source_changes(changed_paths(status), ignore, REPO_ROOT)
    return sha + (LOCAL_CHANGES if dirty else "")
