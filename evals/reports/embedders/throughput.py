"""Embedding throughput of each embedder on the same corpus chunks, in one process.

Both models are loaded, then timed in turn (A, B, A, B, ...) on the same chunk
texts and the same queries, so a busy machine slows both alike and the ratio
stays meaningful. Prints one JSON object.

    python evals/reports/embedders/throughput.py [--chunks 256] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=256)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--embedders", default="all-MiniLM-L6-v2,all-mpnet-base-v2")
    args = parser.parse_args()

    import torch

    from rag.chunking import chunk_document
    from rag.config import Settings
    from rag.embeddings import Embedder
    from rag.ingest import embed_chunks, embedding_text
    from rag.loaders import iter_documents

    settings = Settings()
    chunks = []
    for doc in iter_documents([REPO / "corpus"]):
        if hasattr(doc, "text"):
            chunks.extend(chunk_document(doc, settings.chunk_size, settings.chunk_overlap))
    chunks = chunks[: args.chunks]
    questions = [
        json.loads(line)["question"]
        for line in (REPO / "evals" / "sets" / "osa.jsonl").read_text().splitlines()
        if line.strip()
    ][: args.queries]

    embedders = {}
    load_s = {}
    for name in args.embedders.split(","):
        t0 = time.perf_counter()
        embedders[name] = Embedder(name, settings.embed_batch_size)
        embedders[name].warm_up()
        embedders[name].encode_query("warm-up")
        load_s[name] = round(time.perf_counter() - t0, 2)

    rates: dict[str, list[float]] = {n: [] for n in embedders}
    query_ms: dict[str, list[float]] = {n: [] for n in embedders}
    loads = []
    for _ in range(args.rounds):
        for name, embedder in embedders.items():
            t0 = time.perf_counter()
            embed_chunks(embedder, chunks, progress=False)
            rates[name].append(len(chunks) / (time.perf_counter() - t0))
            for q in questions:
                t0 = time.perf_counter()
                embedder.encode_query(q)
                query_ms[name].append((time.perf_counter() - t0) * 1000)
            loads.append(os.getloadavg()[0])

    result = {
        "chunks": len(chunks),
        "mean_chunk_chars": round(statistics.mean(len(embedding_text(c)) for c in chunks)),
        "queries": len(questions),
        "rounds": args.rounds,
        "torch_threads": torch.get_num_threads(),
        "load_avg_mean": round(statistics.mean(loads), 2),
        "embedders": {
            name: {
                "load_s": load_s[name],
                "chunks_per_s": [round(r, 1) for r in rates[name]],
                "chunks_per_s_best": round(max(rates[name]), 1),
                "query_embed_ms_p50": round(statistics.median(query_ms[name]), 1),
            }
            for name in embedders
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
