"""Ingest throughput: `rag ingest` vs `SentenceTransformer.encode` alone, same chunks.

Documents from the briefing archive are written as Markdown files (title in the
front matter, as in corpus/). "Ours" is the function `rag ingest` runs
(`rag.ingest.ingest(..., rebuild=True)`): read and parse files, chunk, embed,
FAISS, SQLite docstore, BM25, fsync and atomic swap. The baseline is a plain
`SentenceTransformer.encode` (same model directory, batch size 32, normalized) of
exactly the texts ingest embeds (title + chunk text). Both have their model
loaded before the clock starts; the runs alternate (A B, B A, ...).
"""

from __future__ import annotations

import shutil
import time

from benchmarks.common import Context, log, paired_ratio, scale_documents


def write_documents(ctx: Context, target_chunks: int):
    from rag.chunking import chunk_document

    folder = ctx.work / f"ingest-docs-{target_chunks}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    total = 0
    for i, doc in enumerate(scale_documents(ctx)):
        n = len(chunk_document(doc))
        if n == 0:
            continue
        title = doc.title.replace('"', "'")
        (folder / f"doc-{i:05d}.md").write_text(
            f'---\ntitle: "{title}"\n---\n\n{doc.text}\n', encoding="utf-8"
        )
        total += n
        if total >= target_chunks:
            break
    return folder


def run(ctx: Context) -> dict:
    from sentence_transformers import SentenceTransformer

    from rag.chunking import chunk_document
    from rag.config import Settings
    from rag.embeddings import Embedder, embedder_dir
    from rag.ingest import embedding_text, ingest
    from rag.loaders import iter_documents

    target = 100 if ctx.quick else 600
    rounds = 2
    folder = write_documents(ctx, target)
    settings = Settings(index_dir=ctx.work / "ingest-index")
    docs = [d for d in iter_documents([folder]) if hasattr(d, "text")]
    size, overlap = settings.chunk_size, settings.chunk_overlap
    chunks = [c for d in docs for c in chunk_document(d, size, overlap)]
    texts = [embedding_text(c) for c in chunks]
    log(f"{len(docs)} documents, {len(chunks)} chunks")

    embedder = Embedder(settings.embedder, settings.embed_batch_size)
    embedder.warm_up()
    model = SentenceTransformer(str(embedder_dir(settings.embedder)), device="cpu")
    model.encode(texts[:64], batch_size=32)  # first-call costs out of the timings
    embedder.encode(texts[:64])

    details = {"ours": [], "baseline": []}

    def ours() -> float:
        shutil.rmtree(settings.index_dir, ignore_errors=True)
        report = ingest([folder], settings, rebuild=True, embedder=embedder, progress=False)
        assert report.chunks_added == len(chunks), (report.chunks_added, len(chunks))
        details["ours"].append({"seconds": report.seconds, "embed_seconds": report.embed_seconds})
        log(f"  rag ingest: {len(chunks) / report.seconds:.1f} chunks/s")
        return len(chunks) / report.seconds

    def baseline() -> float:
        t0 = time.perf_counter()
        model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        seconds = time.perf_counter() - t0
        details["baseline"].append({"seconds": seconds})
        log(f"  SentenceTransformer.encode: {len(chunks) / seconds:.1f} chunks/s")
        return len(chunks) / seconds

    rates = {"ours": [], "baseline": []}
    for r in range(rounds):
        order = [("ours", ours), ("baseline", baseline)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            rates[name].append(fn())
    shutil.rmtree(settings.index_dir, ignore_errors=True)

    ratio = paired_ratio(rates["ours"], rates["baseline"])
    ours_rate = sorted(rates["ours"])[len(rates["ours"]) // 2]
    base_rate = sorted(rates["baseline"])[len(rates["baseline"]) // 2]
    embed_share = sum(d["embed_seconds"] for d in details["ours"]) / sum(
        d["seconds"] for d in details["ours"]
    )
    return {
        "rows": [
            {
                "figure": f"ingest: chunks/s of `rag ingest` (files → parse, chunk, embed, "
                f"FAISS, SQLite, BM25, swap; {len(chunks)} chunks) vs "
                "SentenceTransformer.encode alone on the same chunk texts",
                "ours": f"{ours_rate:.1f} chunks/s",
                "baseline": f"{base_rate:.1f} chunks/s",
                "ratio": round(ratio, 3),
                "target": "≥ 0.9",
                "met": ratio >= 0.9,
            }
        ],
        "details": {
            "documents": len(docs),
            "chunks": len(chunks),
            "rounds": rounds,
            "rates": rates,
            "runs": details,
            "embedding_share_of_ingest_time": round(embed_share, 3),
        },
    }
