"""The app's retrieval vs raw FAISS of the same index type, parameters and vectors.

For each index type (flat, HNSW, IVF-PQ) the app builds its index with
`IndexWriter` (FAISS + BM25 + SQLite docstore), opens it with `IndexStore.load`
and retrieves with `make_retriever` (the app's settings). The raw side reads the
very same ``vectors.faiss`` with ``faiss.read_index``: same type, same graph or
codebook, same efSearch / nlist / PQ bytes / nprobe / re-ranking factor (checked
against the manifest). So a ratio is our overhead (docstore lookups, BM25, RRF,
hits), not a difference of index types.

Query embedding is timed on its own (the app's `Embedder.encode_query` vs a plain
``SentenceTransformer.encode``) and, once, as part of the whole retrieval from the
question text. All calls for one query run back to back in rotating order; each
ratio is the median over queries of ours / raw for that query.
"""

from __future__ import annotations

import shutil
import time

import faiss
import numpy as np

from benchmarks.common import fmt_bytes, log, paired_ratio, pct, rss_bytes

K = 10
TYPES = ("flat", "hnsw", "ivfpq")


def build_app_index(ctx, chunks, vectors, index_type: str):
    """The app's index of ``index_type`` over ``chunks`` / ``vectors``; (store, build_s)."""
    from rag.index_writer import IndexWriter
    from rag.store import IndexStore, Manifest
    from rag.types import DocumentInfo

    root = ctx.work / f"retrieval-index-{len(chunks)}-{index_type}"
    shutil.rmtree(root, ignore_errors=True)
    manifest = Manifest("all-MiniLM-L6-v2", vectors.shape[1], {"bench": True})
    t0 = time.perf_counter()
    writer = IndexWriter(root, manifest, None, index_type)
    writer.add_chunks(chunks, vectors)
    counts: dict[str, int] = {}
    for c in chunks:
        counts[c.doc_id] = counts.get(c.doc_id, 0) + 1
    for c in chunks:
        manifest.documents.setdefault(
            c.doc_id, DocumentInfo(c.source, c.title, c.doc_id, chunks=counts[c.doc_id])
        )
    writer.commit()
    return IndexStore.load(root), time.perf_counter() - t0


def raw_twin(store) -> faiss.Index:
    """The store's own FAISS file read with plain FAISS; its parameters must match the app's."""
    from rag.faiss_index import index_params
    from rag.store import VECTORS_FILE

    raw = faiss.read_index(str(store.version_dir / VECTORS_FILE))
    same = {k: v for k, v in index_params(raw).items() if k != "trained_on"}
    app = {k: v for k, v in store.manifest.index_params.items() if k != "trained_on"}
    if same != app:
        raise RuntimeError(f"raw index parameters {same} differ from the app's {app}")
    return raw


def params_text(kind: str, params: dict) -> str:
    """ "hnsw M=32 efConstruction=80 efSearch=256" and the like, for the figure names."""
    shown = {k: v for k, v in params.items() if k != "trained_on"}
    return " ".join(
        [kind] + [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()]
    )


class FixedVector:
    """Stands in for the embedder so that only the search itself is timed."""

    def __init__(self, name: str):
        self.name = name
        self.vector = None

    def encode_query(self, text):
        return self.vector


def rotate(calls: dict, order_shift: int, *args) -> dict[str, tuple[float, object]]:
    """Run every call once, starting at ``order_shift``; (ms, result) by name."""
    names = list(calls)
    shift = order_shift % len(names)
    out = {}
    for name in names[shift:] + names[:shift]:
        t0 = time.perf_counter()
        result = calls[name](*args)
        out[name] = ((time.perf_counter() - t0) * 1000, result)
    return out


def bench_app(ctx, chunks, vectors, q_texts, q_vectors, exact, st_model, recall) -> dict:
    """Latency of the app's retrieval per index type vs raw FAISS on the same file."""
    from rag.config import Settings
    from rag.embeddings import Embedder
    from rag.faiss_index import choose_index_type, faiss_id
    from rag.retrieval import make_retriever

    n = len(chunks)
    settings = Settings()
    embedder = Embedder()
    embedder.warm_up()
    fixed = FixedVector(embedder.name)
    fid_row = {faiss_id(c.chunk_id): i for i, c in enumerate(chunks)}
    kinds = [t for t in TYPES if choose_index_type(t, n) == t]
    per_type, calls = (
        {},
        {
            "embed ours": lambda t, v: embedder.encode_query(t),
            "embed raw": lambda t, v: st_model.encode([t], normalize_embeddings=True),
        },
    )
    for kind in kinds:
        rss0 = rss_bytes()
        store, build_s = build_app_index(ctx, chunks, vectors, kind)
        raw = raw_twin(store)
        ours_text = make_retriever(store, embedder, settings)
        ours_vec = make_retriever(store, fixed, settings)
        dense_vec = make_retriever(store, fixed, settings.replace(retrieval="dense"))
        disk = {p.name: p.stat().st_size for p in store.version_dir.rglob("*") if p.is_file()}
        per_type[kind] = {
            "store": store,
            "params": store.manifest.index_params,
            "build_s": round(build_s, 2),
            "files_bytes": disk,
            "bytes_per_chunk": round(sum(disk.values()) / n, 1),
            "load_rss_bytes": rss_bytes() - rss0,
            "dense_recall": [],
        }
        log(
            f"  app index {params_text(kind, store.manifest.index_params)}: built in {build_s:.1f}s"
        )

        def raw_text(t, v, raw=raw):
            q = st_model.encode([t], normalize_embeddings=True, convert_to_numpy=True)
            return raw.search(np.asarray(q, dtype=np.float32), K)

        calls |= {
            f"{kind} raw": lambda t, v, raw=raw: raw.search(v.reshape(1, -1), K),
            f"{kind} ours dense": lambda t, v, r=dense_vec: r.search(t, K),
            f"{kind} ours hybrid": lambda t, v, r=ours_vec: r.search(t, K),
            f"{kind} raw from text": raw_text,
            f"{kind} ours hybrid from text": lambda t, v, r=ours_text: r.search(t, K),
        }
    lat: dict[str, list[float]] = {name: [] for name in calls}
    warm, nq = 5, len(q_texts)
    for qi in range(-warm, nq):
        i = qi % nq
        fixed.vector = q_vectors[i]
        timed = rotate(calls, qi, q_texts[i], q_vectors[i])
        if qi < 0:
            continue
        for name, (ms, _) in timed.items():
            lat[name].append(ms)
        for kind in kinds:
            hits = timed[f"{kind} ours dense"][1]
            rows = [fid_row[faiss_id(h.chunk.chunk_id)] for h in hits]
            per_type[kind]["dense_recall"].append(recall(np.asarray(rows), exact[i]))
    out = {"n": n, "auto": choose_index_type("auto", n), "types": {}, "latency": {}}
    for name, values in lat.items():
        out["latency"][name] = {
            "p50_ms": round(pct(values, 50), 3),
            "p95_ms": round(pct(values, 95), 3),
        }
    out["paired"] = paired_ratios(lat, kinds)
    for kind, entry in per_type.items():
        store = entry.pop("store")
        entry["dense_recall_at_10"] = round(float(np.mean(entry.pop("dense_recall"))), 4)
        out["types"][kind] = entry
        root = store.root
        store.close()
        shutil.rmtree(root, ignore_errors=True)
    out["raw_latency_ms"] = {name: [round(x, 4) for x in v] for name, v in lat.items()}
    return out


def paired_ratios(lat: dict[str, list[float]], kinds) -> dict[str, float]:
    """Median of per-query ours/raw ratios for every compared pair."""
    pairs = {"embed": ("embed ours", "embed raw")}
    for kind in kinds:
        pairs[f"{kind} dense"] = (f"{kind} ours dense", f"{kind} raw")
        pairs[f"{kind} hybrid"] = (f"{kind} ours hybrid", f"{kind} raw")
        pairs[f"{kind} from text"] = (f"{kind} ours hybrid from text", f"{kind} raw from text")
    return {name: round(paired_ratio(lat[a], lat[b]), 3) for name, (a, b) in pairs.items()}


def app_rows(app: dict) -> list[dict]:
    """The table rows of one scale's app comparison (see `bench_app`)."""
    n, lat, ratio, auto = app["n"], app["latency"], app["paired"], app["auto"]
    label = f"retrieval {n // 1000}k"
    target = n == 100_000
    rows = [
        {
            "figure": f"{label}: query embedding p50, the app's `Embedder.encode_query` vs "
            "`SentenceTransformer.encode` (same model)",
            "ours": f"{lat['embed ours']['p50_ms']:.2f} ms",
            "baseline": f"{lat['embed raw']['p50_ms']:.2f} ms",
            "ratio": ratio["embed"],
            "target": "",
            "met": None,
        }
    ]
    for kind, entry in app["types"].items():
        raw = lat[f"{kind} raw"]["p50_ms"]
        rows.append(
            {
                "figure": f"{label}, {params_text(kind, entry['params'])}: search p50 from a given "
                "query vector, ours dense / ours hybrid (+ BM25 + RRF + docstore) vs raw FAISS "
                "on the same index file (dense recall@10 vs exact "
                f"{entry['dense_recall_at_10']:.3f})",
                "ours": f"{lat[f'{kind} ours dense']['p50_ms']:.2f} / "
                f"{lat[f'{kind} ours hybrid']['p50_ms']:.2f} ms",
                "baseline": f"{raw:.2f} ms",
                "ratio": f"{ratio[f'{kind} dense']:.2f}× / {ratio[f'{kind} hybrid']:.2f}×",
                "target": "",
                "met": None,
            }
        )
    ours = lat[f"{auto} ours hybrid from text"]["p50_ms"]
    r = ratio[f"{auto} from text"]
    rows.append(
        {
            "figure": f"{label}: the app's retrieval from the question text (embedding + hybrid "
            f"search on the `auto` index, {auto}) vs SentenceTransformer.encode + raw FAISS "
            f"{auto} on the same file",
            "ours": f"{ours:.2f} ms",
            "baseline": f"{lat[f'{auto} raw from text']['p50_ms']:.2f} ms",
            "ratio": r,
            "target": "≤ 1.5× and < 50 ms" if target else "",
            "met": (r <= 1.5 and ours < 50) if target else None,
        }
    )
    entry = app["types"][auto]
    rows.append(
        {
            "figure": f"{label}: the `auto` index ({auto}): build (FAISS + BM25 + SQLite), "
            "bytes on disk per chunk, memory when loaded",
            "ours": f"build {entry['build_s']:.1f} s; {entry['bytes_per_chunk']:.0f} B/chunk; "
            f"{fmt_bytes(entry['load_rss_bytes'], 'MiB', 0)}",
            "baseline": "",
            "ratio": None,
            "target": "",
            "met": None,
        }
    )
    return rows
