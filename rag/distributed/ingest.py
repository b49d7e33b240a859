"""`rag ingest --engine ray`: the local ingest, with the heavy work spread over Ray.

1. **Parse** (Ray Data tasks, one per file): `rag.loaders.load_file`, the local
   engine's loader, so a `.jsonl.gz` collection yields one row per line.
2. **Plan** (driver): `rag.ingest.plan_ingest` on the documents' sources and
   content hashes only, in discovery order: incremental by content hash,
   duplicates, ``--prune``, exactly as the local engine decides.
3. **Chunk** (tasks): `rag.chunking.chunk_document` on the documents to embed.
4. **Embed** (an actor pool): each actor loads the embedder once and encodes
   batches of `rag.ingest.embedding_text`.
5. **Write** (driver): `rag.ingest.write_index` streams the vectors into the same
   store code (FAISS + SQLite docstore + BM25 + manifest, atomic swap, index type
   ``auto``), under the same lock.

Order is preserved end to end, so the chunk ids, texts, offsets and even the
insertion order (which an HNSW graph depends on) match the local engine; the
vectors differ only by float rounding (other batch compositions).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rag.chunking import chunk_document
from rag.config import Settings
from rag.distributed import cluster_cpus, ray_session
from rag.embeddings import Embedder
from rag.index_writer import index_lock
from rag.ingest import IngestReport, embedding_text, finish_unchanged, write_index
from rag.ingest import plan_ingest as plan_changes
from rag.loaders import MAX_FILE_BYTES, Skipped, discover_files, load_file
from rag.types import Chunk, Document, DocumentInfo

EMBED_BATCH = 256  # chunks per actor call: large enough to keep the model busy
NO_PROGRESS_TIMEOUT_S = 900.0


def ray_ingest(
    paths: Iterable[Path],
    settings: Settings,
    prune: bool = False,
    rebuild: bool = False,
    address: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    on_skip: Callable[[Skipped], None] | None = None,
    lock_wait_seconds: float = 0.0,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> IngestReport:
    """`rag.ingest.ingest` on Ray: the same index, built by ``workers`` embedding actors.

    ``address`` is a running cluster ("auto", "HOST:PORT"); without one a local
    cluster with ``workers`` CPUs (default: all) lives for this call.
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    started = time.perf_counter()
    report = IngestReport()
    with (
        ray_session(address, num_cpus=workers) as ray,
        index_lock(settings.index_dir, wait_seconds=lock_wait_seconds),
    ):
        import ray.data

        logging.getLogger("ray.data").setLevel(logging.WARNING)  # no per-dataset chatter
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # same order as the local engine
        context.enable_progress_bars = progress
        # A stalled pipeline (no block moves, e.g. no CPU left for a task) fails instead of
        # hanging; model loading in an actor on a busy machine stays well inside this.
        context.execution_no_progress_timeout_s = NO_PROGRESS_TIMEOUT_S
        n_workers = workers or cluster_cpus(ray)
        cpus_per_worker = max(1, cluster_cpus(ray) // n_workers)

        found = list(discover_files(paths))
        files = list(dict.fromkeys(str(f) for f in found if not isinstance(f, Skipped)))
        parsed = None
        if files:
            parsed = (
                ray.data.from_items([{"file": f} for f in files], override_num_blocks=len(files))
                .flat_map(_parse_file, fn_kwargs={"max_bytes": max_file_bytes})
                .materialize()
            )
        items = list(_discovery_order(found, parsed))
        dim = Embedder(settings.embedder).dim
        plan = plan_changes(items, settings, dim, rebuild, prune, report, on_skip)
        if plan.empty:
            return finish_unchanged(plan, report, started)

        wanted = {info.source for info in plan.to_add}
        chunks = None
        n_chunks = 0
        if wanted:
            chunks = parsed.flat_map(
                _chunk_rows,
                fn_kwargs={
                    "wanted": wanted,
                    "size": settings.chunk_size,
                    "overlap": settings.chunk_overlap,
                },
            ).materialize()  # before the actors start: chunking tasks need CPUs too
            n_chunks = chunks.count()
        t0 = time.perf_counter()
        batches: Iterator = iter(())
        if n_chunks:
            embedded = chunks.map_batches(
                EmbedActor,
                fn_constructor_kwargs={
                    "name": settings.embedder,
                    "batch_size": settings.embed_batch_size,
                    "cache": settings.model_cache,
                    "threads": cpus_per_worker,
                },
                batch_size=EMBED_BATCH,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=n_workers),
                num_cpus=cpus_per_worker,
            )
            context.enable_progress_bars = False  # ours counts chunks written
            batches = _embedded_batches(embedded, n_chunks, progress)
        write_index(plan, settings, batches, report)
        report.embed_seconds = time.perf_counter() - t0
    report.seconds = time.perf_counter() - started
    return report


# -- parse ---------------------------------------------------------------------------
_DOCUMENT_FIELDS = ("source", "title", "text", "content_hash")


def _parse_file(row: dict, max_bytes: int) -> list[dict]:
    """One file's documents (and skips) as rows, numbered in file order."""
    out = []
    for member, item in enumerate(load_file(Path(row["file"]), max_bytes)):
        base = {"file": row["file"], "member": member}
        if isinstance(item, Skipped):
            out.append({**base, **dict.fromkeys(_DOCUMENT_FIELDS, ""), "page_starts": []})
            out[-1].update(source=item.path, reason=item.reason, chars=0)
        else:
            out.append({**base, **{k: getattr(item, k) for k in _DOCUMENT_FIELDS}})
            out[-1].update(page_starts=list(item.page_starts), reason="", chars=len(item.text))
    return out


def _discovery_order(found: list, parsed) -> Iterator[DocumentInfo | Skipped]:
    """What `iter_documents` yields, in its order: documents as `DocumentInfo`s."""
    by_file: dict[str, list[dict]] = {}
    if parsed is not None:
        columns = ["file", "member", "source", "title", "content_hash", "page_starts", "reason"]
        for row in parsed.select_columns([*columns, "chars"]).iter_rows():
            by_file.setdefault(row["file"], []).append(row)
    for item in found:
        if isinstance(item, Skipped):
            yield item
            continue
        for row in sorted(by_file.get(str(item), []), key=lambda r: r["member"]):
            if row["reason"]:
                yield Skipped(row["source"], row["reason"])
            else:
                yield DocumentInfo(
                    row["source"],
                    row["title"],
                    row["content_hash"],
                    len(row["page_starts"]) or None,
                    int(row["chars"]),
                )


# -- chunk ---------------------------------------------------------------------------
_CHUNK_FIELDS = ("chunk_id", "doc_id", "source", "title", "text", "start", "end", "position")


def _chunk_rows(row: dict, wanted: set[str], size: int, overlap: int) -> list[dict]:
    if row["reason"] or row["source"] not in wanted:
        return []
    document = Document(
        row["source"], row["title"], row["text"], row["content_hash"], list(row["page_starts"])
    )
    return [
        {**{k: getattr(c, k) for k in _CHUNK_FIELDS}, "page": c.page or 0}  # 0: no page
        for c in chunk_document(document, size, overlap)
    ]


def _chunk_of(batch: dict, i: int) -> Chunk:
    """Row ``i`` of a numpy batch of chunk rows as a `Chunk` (plain str and int fields)."""
    return Chunk(
        **{k: str(batch[k][i]) for k in ("chunk_id", "doc_id", "source", "title", "text")},
        **{k: int(batch[k][i]) for k in ("start", "end", "position")},
        page=int(batch["page"][i]) or None,
    )


# -- embed ---------------------------------------------------------------------------
class EmbedActor:
    """A Ray Data actor: loads the embedder once, then embeds batches of chunks."""

    def __init__(self, name: str, batch_size: int, cache: Path | None, threads: int):
        import torch

        torch.set_num_threads(threads)  # the CPUs Ray gave this actor, no more
        self.embedder = Embedder(name, batch_size, cache=cache)
        self.embedder.warm_up()

    def __call__(self, batch: dict) -> dict:
        texts = [embedding_text(_chunk_of(batch, i)) for i in range(len(batch["chunk_id"]))]
        batch["vector"] = self.embedder.encode(texts)
        return batch


def _embedded_batches(embedded, total: int, progress: bool):
    """(chunks, vectors) pairs as the actors finish them, with a progress bar."""
    with tqdm(total=total, unit="chunk", desc="Embedding (Ray)", disable=not progress) as bar:
        for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
            n = len(batch["chunk_id"])
            chunks = [_chunk_of(batch, i) for i in range(n)]
            yield chunks, np.asarray(batch["vector"], dtype=np.float32).reshape(n, -1)
            bar.update(n)
