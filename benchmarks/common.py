"""Shared helpers: run context, timing statistics, memory readings, benchmark data.

Every figure is a ratio against a baseline measured in the same process and the
same run, interleaved where possible (A B B A ...), because the machine may be
shared with other work while the benchmarks run.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCALE_FILE = Path("corpus/scale/wh_briefings_all.jsonl.gz")  # inside the shared folder


@dataclass
class Context:
    """Where things are and how big a run is."""

    quick: bool = False
    shared: Path = field(default_factory=lambda: Path(os.environ.get("BENCH_SHARED", "../shared")))
    work: Path = field(default_factory=lambda: Path(os.environ.get("BENCH_WORK", ".rag/bench")))
    results: Path = Path("benchmarks/results")
    seed: int = 0

    def __post_init__(self) -> None:
        # Paths are relative to the repository root, whatever the working directory.
        self.shared = _from_root(self.shared)
        self.work = _from_root(self.work)
        self.results = _from_root(self.results)
        self.work.mkdir(parents=True, exist_ok=True)
        self.results.mkdir(parents=True, exist_ok=True)

    @property
    def cache(self) -> Path:
        path = self.work / "cache"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def model(self) -> str:
        """Generator model: the default one, the tiny one in --quick runs."""
        return os.environ.get("BENCH_MODEL") or ("smollm2-135m" if self.quick else "qwen2.5-1.5b")


def _from_root(path: Path) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() else (ROOT / path).resolve()


def log(*parts: object) -> None:
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


# -- statistics ---------------------------------------------------------------------
def pct(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else 0.0


def median(values) -> float:
    return pct(values, 50)


def interleave(runs: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Call each run ``rounds`` times, alternating the order (A B, B A, ...)."""
    names = list(runs)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            out[name].append(runs[name]())
    return out


def paired_ratio(ours: list[float], base: list[float]) -> float:
    """Median of per-round ratios ours/base (each pair measured back to back)."""
    ratios = [a / b for a, b in zip(ours, base, strict=True) if b]
    return median(ratios) if ratios else float("nan")


def paired_row(
    figure: str, ours: list[float], base: list[float], unit: str = "s", digits: int = 2
) -> dict:
    """A table row comparing paired timings: medians and the median per-pair ratio."""
    return {
        "figure": figure,
        "ours": f"{median(ours):.{digits}f} {unit}",
        "baseline": f"{median(base):.{digits}f} {unit}",
        "ratio": round(paired_ratio(ours, base), max(3, digits + 1)),
        "target": "",
        "met": None,
    }


# -- memory and units ----------------------------------------------------------------
def _status_bytes(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024  # the kernel's "kB" are KiB
    return 0


def rss_bytes() -> int:
    """Current resident set size of this process."""
    return _status_bytes("VmRSS")


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far."""
    return _status_bytes("VmHWM")


BYTE_UNITS = {"kB": 10**3, "MB": 10**6, "GB": 10**9, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def in_unit(n_bytes: float, unit: str) -> float:
    """``n_bytes`` in ``unit`` (decimal kB/MB/GB or binary KiB/MiB/GiB)."""
    try:
        return n_bytes / BYTE_UNITS[unit]
    except KeyError:
        known = ", ".join(BYTE_UNITS)
        raise ValueError(f"unknown byte unit {unit!r}; use one of {known}") from None


def fmt_bytes(n_bytes: float, unit: str, digits: int = 2) -> str:
    """``n_bytes`` in ``unit``, with the unit: ``fmt_bytes(2**30, "GiB")`` is "1.00 GiB"."""
    return f"{in_unit(n_bytes, unit):.{digits}f} {unit}"


# -- data ---------------------------------------------------------------------------
def scale_documents(ctx: Context):
    """The White House briefing archive as `Document`s, in a fixed shuffled order."""
    from rag.loaders import normalize_text
    from rag.types import Document

    path = ctx.shared / SCALE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found; pass --shared DIR (the folder holding corpus/scale/)"
        )
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            if d.get("text"):
                rows.append(d)
    random.Random(ctx.seed).shuffle(rows)
    for d in rows:
        text = normalize_text(d["text"])
        yield Document(
            source=f"scale/{d['id']}.md",
            title=str(d.get("title") or "").strip(),
            text=text,
            content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        )


def scale_chunks(ctx: Context, n: int, chunk_size: int = 700, chunk_overlap: int = 120):
    """The first ``n`` chunks of the shuffled archive, chunked like `rag ingest` does."""
    from rag.chunking import chunk_document

    out = []
    for doc in scale_documents(ctx):
        out.extend(chunk_document(doc, chunk_size, chunk_overlap))
        if len(out) >= n:
            break
    if len(out) < n:
        raise ValueError(f"the archive has only {len(out)} chunks, {n} wanted")
    return out[:n]


def texts_digest(texts: list[str], salt: str = "") -> str:
    h = hashlib.sha256(salt.encode())
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    return h.hexdigest()[:16]


def embed_cached(ctx: Context, texts: list[str], embedder=None, label: str = "vectors"):
    """Unit vectors of ``texts`` with the app's embedder, cached as .npy (no pickle)."""
    from rag.embeddings import Embedder

    embedder = embedder or Embedder()
    path = ctx.cache / f"{label}-{embedder.name}-{texts_digest(texts)}.npy"
    if path.is_file():
        vectors = np.load(path, allow_pickle=False)
        if vectors.shape[0] == len(texts):
            return vectors
    log(f"embedding {len(texts)} texts for {label} (cached afterwards in {path.name})")
    parts = []
    step = 512
    t0 = time.perf_counter()
    for i in range(0, len(texts), step):
        parts.append(embedder.encode(texts[i : i + step]))
        done = i + len(parts[-1])
        log(f"  {done}/{len(texts)} ({done / (time.perf_counter() - t0):.1f}/s)")
    vectors = np.concatenate(parts)
    tmp = path.with_name(path.stem + ".tmp.npy")
    np.save(tmp, vectors, allow_pickle=False)
    tmp.replace(path)
    return vectors


def osa_questions(n: int | None = None) -> list[dict]:
    rows = [
        json.loads(line)
        for line in (ROOT / "evals/sets/osa.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return rows[:n] if n else rows


def corpus_index(ctx: Context) -> Path:
    """An index of the bundled corpus/ for the generation and end-to-end benchmarks.

    Built with the app's defaults by `rag.ingest.ingest` (incremental: a no-op when
    corpus/ has not changed since the last run).
    """
    from rag.config import Settings
    from rag.ingest import ingest

    settings = Settings(index_dir=ctx.work / "corpus-index")
    report = ingest([ROOT / "corpus"], settings, progress=False, lock_wait_seconds=600)
    if report.chunks_added:
        log(f"indexed corpus/: {report.total_chunks} chunks")
    return settings.index_dir


def token_times(stream) -> tuple[list[float], str]:
    """Consume a token stream; return the perf_counter time of each piece and the text."""
    stamps, parts = [], []
    for piece in stream:
        if piece:
            stamps.append(time.perf_counter())
            parts.append(piece)
    return stamps, "".join(parts)


def decode_rate(stamps: list[float]) -> float:
    """Tokens per second between the first and the last token."""
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2 else float("nan")
