"""Ingestion: files -> documents -> chunks -> vectors -> a new index version.

Incremental by content hash: unchanged documents are skipped, changed ones
replaced, and with ``prune`` documents whose files are gone are removed. An
index built with another embedder or chunking is never mixed with new
vectors: the run stops and asks for ``--rebuild``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from rag.chunking import chunk_document, doc_id_for
from rag.config import Settings
from rag.embeddings import Embedder
from rag.index_writer import IndexWriter, index_lock
from rag.jsonl import source_file
from rag.loaders import MAX_FILE_BYTES, Skipped, iter_documents
from rag.store import IndexStore, IndexStoreError, Manifest
from rag.types import Chunk, DocumentInfo


class SettingsChanged(IndexStoreError):
    """The index was built with other embedding or chunking settings."""


@dataclass
class IngestReport:
    """What an ingest run did, for the CLI summary and the UI."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    total_chunks: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


PHASE_FILE_ENV = "RAG_INGEST_PHASE_FILE"


def phase_recorder() -> Callable[[str], None]:
    """Records where an ingest is: ``reading``, ``embedding``, ``writing``, ``swapping``,
    ``done``, one line each, appended to the file named by $RAG_INGEST_PHASE_FILE as the
    phase starts (the crash-safety tests read it after a SIGKILL); a no-op when unset."""
    path = os.environ.get(PHASE_FILE_ENV)
    if not path:
        return lambda phase: None

    def record(phase: str) -> None:
        with open(path, "a", encoding="utf-8") as fh:  # closed: in the kernel before the phase
            fh.write(phase + "\n")

    return record


def chunking_settings(settings: Settings) -> dict:
    return {
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "embed_title": True,
    }


def embedding_text(chunk: Chunk) -> str:
    """What gets embedded: the title gives short passages their context."""
    return f"{chunk.title}\n{chunk.text}" if chunk.title else chunk.text


@dataclass
class IngestPlan:
    """What one run changes: documents to (re-)embed and documents to drop."""

    manifest: Manifest
    previous: IndexStore | None
    to_add: list = field(default_factory=list)  # Document or DocumentInfo
    replace_ids: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.to_add or self.replace_ids) and self.previous is not None


def ingest(
    paths: Iterable[Path],
    settings: Settings,
    prune: bool = False,
    rebuild: bool = False,
    embedder: Embedder | None = None,
    progress: bool = True,
    on_skip: Callable[[Skipped], None] | None = None,
    lock_wait_seconds: float = 0.0,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> IngestReport:
    """Bring the index at ``settings.index_dir`` up to date with ``paths``."""
    started = time.perf_counter()
    report = IngestReport()
    root = settings.index_dir
    phase = phase_recorder()
    with index_lock(root, wait_seconds=lock_wait_seconds):
        phase("reading")
        dim = (embedder or Embedder(settings.embedder)).dim
        items = iter_documents(paths, max_bytes=max_file_bytes)
        plan = plan_ingest(items, settings, dim, rebuild, prune, report, on_skip)
        if plan.empty:
            phase("done")
            return finish_unchanged(plan, report, started)

        phase("embedding")
        chunks: list[Chunk] = []
        for document in plan.to_add:
            chunks.extend(chunk_document(document, settings.chunk_size, settings.chunk_overlap))
        embedder = embedder or Embedder(
            settings.embedder, settings.embed_batch_size, cache=settings.model_cache
        )
        if chunks:
            embedder.warm_up()  # model loading is not embedding time
        t0 = time.perf_counter()
        vectors = embed_chunks(embedder, chunks, progress)
        report.embed_seconds = time.perf_counter() - t0
        plan.to_add = [DocumentInfo.of(d) for d in plan.to_add]
        write_index(plan, settings, [(chunks, vectors)], report, on_phase=phase)
    phase("done")
    report.seconds = time.perf_counter() - started
    return report


def plan_ingest(
    items: Iterable,
    settings: Settings,
    dim: int,
    rebuild: bool,
    prune: bool,
    report: IngestReport,
    on_skip: Callable[[Skipped], None] | None = None,
) -> IngestPlan:
    """Open the index and decide, from the documents found, what this run changes.

    ``items`` are `Document`s, `DocumentInfo`s (only source and content hash are
    read) and `Skipped` files, in discovery order. Called with the index lock held.
    """
    root = settings.index_dir
    previous = IndexStore.load(root) if IndexStore.exists(root) and not rebuild else None
    wanted = Manifest(embedder=settings.embedder, dim=dim, chunking=chunking_settings(settings))
    if previous is not None:
        try:
            _check_compatible(previous.manifest, wanted, root)
        except SettingsChanged:
            previous.close()
            raise
    plan = IngestPlan(previous.manifest if previous is not None else wanted, previous)
    known = plan.manifest.documents
    seen_sources: dict[str, str] = {}  # source -> content hash in this run
    candidates: list[tuple[object, DocumentInfo | None]] = []  # new or changed documents
    for item in items:
        if isinstance(item, Skipped):
            report.skipped.append(item)
            if on_skip:
                on_skip(item)
            continue
        if item.source in seen_sources:
            continue  # the same file reached twice (overlapping paths)
        for page, reason in getattr(item, "skipped_pages", {}).items():  # indexed without them
            report.skipped.append(Skipped(f"{item.source} (page {page})", reason))
            if on_skip:
                on_skip(report.skipped[-1])
        seen_sources[item.source] = item.content_hash
        info = known.get(doc_id_for(item.source))
        if info and info.content_hash == item.content_hash:
            report.unchanged.append(item.source)
            continue
        candidates.append((item, info))

    read_files = {source_file(s) for s in seen_sources}

    def gone(source: str) -> bool:
        if not prune or source in seen_sources:
            return False
        file = source_file(source)  # a collection member is gone when its file was read
        return not file.exists() or (str(file) != source and file in read_files)

    # Duplicates are judged against what the index holds after this run: a
    # known document counts only if it keeps its content (not changed, not
    # pruned), so a renamed or copied-then-edited file is not lost.
    by_hash: dict[str, str] = {}
    for info in known.values():
        source = info.source
        if seen_sources.get(source, info.content_hash) == info.content_hash:
            if not gone(source):
                by_hash.setdefault(info.content_hash, source)
    for item, info in candidates:
        doc_id = doc_id_for(item.source)
        twin = by_hash.get(item.content_hash)
        if twin and twin != item.source:
            skip = Skipped(item.source, f"duplicate of {twin} (same content), indexed once")
            report.skipped.append(skip)
            if on_skip:
                on_skip(skip)
            if info:  # its old content must not stay indexed
                plan.replace_ids.append(doc_id)
                report.removed.append(item.source)
            continue
        by_hash[item.content_hash] = item.source
        (report.updated if info else report.added).append(item.source)
        if info:
            plan.replace_ids.append(doc_id)
        plan.to_add.append(item)

    if prune:
        for doc_id, info in list(known.items()):
            if gone(info.source):
                plan.replace_ids.append(doc_id)
                report.removed.append(info.source)
    return plan


def finish_unchanged(plan: IngestPlan, report: IngestReport, started: float) -> IngestReport:
    """The report of a run that found nothing to change."""
    report.total_chunks = plan.manifest.chunk_count
    report.seconds = time.perf_counter() - started
    if plan.previous is not None:
        plan.previous.close()
    return report


def write_index(
    plan: IngestPlan,
    settings: Settings,
    batches: Iterable[tuple[list[Chunk], object]],
    report: IngestReport,
    on_phase: Callable[[str], None] = lambda phase: None,
) -> None:
    """Write a new index version: the plan's removals, then ``batches`` of
    (chunks, vectors), then the manifest entries of ``plan.to_add`` (`DocumentInfo`s);
    commit atomically, or leave the current version untouched on any error.
    ``on_phase`` hears "writing" (the draft) and "swapping" (it becomes current)."""
    manifest = plan.manifest
    on_phase("writing")
    writer = IndexWriter(settings.index_dir, manifest, plan.previous, settings.index_type)
    try:
        report.chunks_removed = writer.remove_documents(plan.replace_ids)
        counts: dict[str, int] = {}
        for chunks, vectors in batches:
            writer.add_chunks(chunks, vectors)
            for c in chunks:
                counts[c.doc_id] = counts.get(c.doc_id, 0) + 1
            report.chunks_added += len(chunks)
        for info in plan.to_add:
            doc_id = doc_id_for(info.source)
            manifest.documents[doc_id] = info.with_chunks(counts.get(doc_id, 0))
        writer.commit(before_swap=lambda: on_phase("swapping"))
    except BaseException:
        writer.abort()
        raise
    finally:
        if plan.previous is not None:
            plan.previous.close()
    report.total_chunks = manifest.chunk_count


def remove_documents(
    sources: Iterable[str], settings: Settings, lock_wait_seconds: float = 0.0
) -> IngestReport:
    """Remove documents (by their indexed ``source``) from the index; files are untouched."""
    started = time.perf_counter()
    report = IngestReport()
    root = settings.index_dir
    with index_lock(root, wait_seconds=lock_wait_seconds):
        previous = IndexStore.load(root)
        manifest = previous.manifest
        ids = [i for i in dict.fromkeys(map(doc_id_for, sources)) if i in manifest.documents]
        try:
            if ids:
                report.removed = [manifest.documents[i].source for i in ids]
                writer = IndexWriter(root, manifest, previous, settings.index_type)
                try:
                    report.chunks_removed = writer.remove_documents(ids)
                    writer.commit()
                except BaseException:
                    writer.abort()
                    raise
        finally:
            previous.close()
        report.total_chunks = manifest.chunk_count
    report.seconds = time.perf_counter() - started
    return report


def embed_chunks(embedder: Embedder, chunks: list[Chunk], progress: bool = True):
    """Embed chunks in batches with a progress bar (chunks/s)."""
    import numpy as np

    if not chunks:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    embedder.warm_up()
    texts = [embedding_text(c) for c in chunks]
    batch = max(embedder.batch_size * 4, 64)
    parts = []
    with tqdm(total=len(texts), unit="chunk", desc="Embedding", disable=not progress) as bar:
        for i in range(0, len(texts), batch):
            parts.append(embedder.encode(texts[i : i + batch]))
            bar.update(len(texts[i : i + batch]))
    return np.concatenate(parts)


def _check_compatible(have: Manifest, want: Manifest, root: Path) -> None:
    if have.embedder != want.embedder or have.dim != want.dim:
        raise SettingsChanged(
            f"the index in {root}/ was built with embedder {have.embedder} (dim {have.dim}), "
            f"not {want.embedder} (dim {want.dim})",
            "rag ingest --rebuild",
        )
    if have.chunking != want.chunking:
        raise SettingsChanged(
            f"the index in {root}/ was built with chunking {have.chunking}, now {want.chunking}",
            "rag ingest --rebuild",
        )
