"""Where set data comes from and where eval corpora and indexes are cached.

``<data-dir>`` is ``--data-dir``, else ``RAG_SHARED_DIR``, else ``../shared`` next to
the repository. External corpora are written as ``.txt`` files (one per passage,
named by passage id) under ``.rag/eval-corpus/<set>/`` and indexed into
``.rag/eval-index/<set>-<content hash>/``, so the user's ``index/`` is never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from evals.paths import REPO_ROOT
from evals.sets.model import EvalSet, EvalSetError


def shared_dir(data_dir: Path | str | None = None) -> Path:
    """The shared read-only data directory (``--data-dir``, ``RAG_SHARED_DIR``, ``../shared``)."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get("RAG_SHARED_DIR")
    if env:
        return Path(env).expanduser()
    return (REPO_ROOT / ".." / "shared").resolve()


def cache_dir() -> Path:
    """Where eval corpora and indexes are cached (``RAG_EVAL_CACHE``, default ``.rag/``)."""
    env = os.environ.get("RAG_EVAL_CACHE")
    return Path(env).expanduser() if env else REPO_ROOT / ".rag"


def require(path: Path, what: str) -> Path:
    """``path``, or an `EvalSetError` saying where the shared data is expected."""
    if not path.exists():
        raise EvalSetError(
            f"{what} not found at {path}. The external eval sets live in the shared data "
            "directory (../shared next to the repository); point to it with --data-dir "
            "or RAG_SHARED_DIR."
        )
    return path


def safe_id(text: str) -> str:
    """``text`` usable as a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def write_passages(target: Path, passages: dict[str, tuple[str, str]]) -> Path:
    """Write one ``<id>.txt`` per passage (YAML front matter holds the title).

    Files are rewritten only when their content changes; files of passages no
    longer present are removed. Returns ``target``.
    """
    target.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for pid, (title, text) in passages.items():
        name = f"{safe_id(pid)}.txt"
        wanted.add(name)
        body = f"---\ntitle: {json.dumps(title, ensure_ascii=False)}\n---\n{text.strip()}\n"
        path = target / name
        if not path.exists() or path.read_text(encoding="utf-8") != body:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(body, encoding="utf-8")
            os.replace(tmp, path)
    for stale in target.glob("*.txt"):
        if stale.name not in wanted:
            stale.unlink()
    return target


def corpus_fingerprint(corpus_dir: Path, settings) -> str:
    """Hash of the corpus files (names and bytes) and the settings that shape the index."""
    from rag.ingest import chunking_settings
    from rag.loaders import LOADER_VERSION, discover_files

    digest = hashlib.sha256()
    shape = [settings.embedder, chunking_settings(settings), LOADER_VERSION]
    if settings.index_type != "auto":  # "auto" keeps the hashes of existing caches
        shape.append(settings.index_type)
    digest.update(json.dumps(shape).encode())
    files = [p for p in discover_files([corpus_dir]) if isinstance(p, Path)]
    for path in sorted(files, key=lambda p: p.relative_to(corpus_dir).as_posix()):
        digest.update(path.relative_to(corpus_dir).as_posix().encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:12]


def eval_index_dir(evalset: EvalSet, settings) -> Path:
    """``.rag/eval-index/<set>-<hash>/``: one cached index per corpus content."""
    fingerprint = corpus_fingerprint(evalset.corpus_dir, settings)
    return cache_dir() / "eval-index" / f"{safe_id(evalset.name)}-{fingerprint}"


def ensure_index(evalset: EvalSet, settings, progress: bool = True, embedder=None):
    """Index the set's corpus into its cached eval index; return settings pointing at it."""
    from rag.ingest import ingest

    index_dir = eval_index_dir(evalset, settings)
    eval_settings = settings.replace(index_dir=index_dir, corpus_dir=evalset.corpus_dir)
    report = ingest(
        [evalset.corpus_dir],
        eval_settings,
        prune=True,
        embedder=embedder,
        progress=progress,
        lock_wait_seconds=600,
    )
    return eval_settings, report
