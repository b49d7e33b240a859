"""Footprint: cold start to first answer, peak memory while serving, index bytes per chunk.

Cold start is measured in fresh processes twice: with the page cache warm (the
model file and libraries were read before, as after `scripts/start.sh` set-up) and
with the page cache dropped before each process (``sync; echo 3 >
/proc/sys/vm/drop_caches``, root only: everything is read from disk, as after a
reboot). When the cache cannot be dropped, the result says so and reports warm
starts only.

- ours: a process that imports `rag`, loads the index, the embedder and the
  model (`RagPipeline.warm_up`: ready to answer), then answers one question;
- baseline: the floor, a process that loads only the same two models with the
  raw libraries (`llama_cpp.Llama`, `SentenceTransformer`, library defaults),
  reads the same FAISS file and answers the same prompt;
- ours with the model file memory-mapped (llama.cpp's default, the app's before).

Times are from process start (the parent's clock around the spawn) to ready,
first token and answer. Peak RSS is the process's high-water mark (VmHWM) after
answering three questions (bytes; shown in GiB = 2^30 bytes). The kinds of
process alternate, two rounds (``BENCH_FOOTPRINT_ROUNDS``; one with ``--quick``).
Dropped-cache processes answer one question, in the first round only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from benchmarks.common import (
    ROOT,
    Context,
    corpus_index,
    fmt_bytes,
    log,
    median,
    osa_questions,
    peak_rss_bytes,
)
from benchmarks.machine import drop_page_cache

QUESTIONS = 3
RSS_TARGET_BYTES = 2.5e9  # the target "≤ 2.5 GB" in decimal gigabytes


def child_ours(index_dir: str, model: str, use_mmap: bool = False, questions=QUESTIONS) -> dict:
    t = {"start": time.time()}
    from rag.config import Settings
    from rag.generation import LlamaCppGenerator
    from rag.pipeline import RagPipeline, make_generator

    t["imported"] = time.time()
    settings = Settings(index_dir=index_dir, model=model)
    generator = make_generator(settings)
    if use_mmap:  # the library's default, as before
        generator = LlamaCppGenerator(
            generator.model_path,
            name=generator.name,
            n_ctx=settings.n_ctx,
            n_threads=settings.n_threads,
            n_threads_batch=settings.n_threads_batch,
            n_batch=settings.n_batch,
            use_mmap=True,
        )
    pipe = RagPipeline(settings, generator=generator)
    _ = pipe.store
    t["index_loaded"] = time.time()
    pipe.warm_up()
    t["ready"] = time.time()
    for i, q in enumerate(osa_questions(questions)):
        for event in pipe.stream(q["question"]):
            if i == 0 and event.kind == "token" and "first_token" not in t:
                t["first_token"] = time.time()
        if i == 0:
            t["first_answer"] = time.time()
    return {"t": t, "peak_rss_bytes": peak_rss_bytes(), "chunks": len(pipe.store)}


def child_raw(index_dir: str, model: str, questions=QUESTIONS) -> dict:
    """The floor: the same models and FAISS file through the raw libraries only."""
    t = {"start": time.time()}
    import faiss
    from llama_cpp import Llama
    from sentence_transformers import SentenceTransformer

    t["imported"] = time.time()
    from rag.config import Settings
    from rag.embeddings import embedder_dir
    from rag.models import ensure_model

    s = Settings(index_dir=index_dir, model=model)
    index = faiss.read_index(str(s.index_dir / "current" / "vectors.faiss"))
    t["index_loaded"] = time.time()
    st = SentenceTransformer(str(embedder_dir(s.embedder)), device="cpu")
    llm = Llama(
        model_path=str(ensure_model(model, s.model_cache)),
        n_ctx=s.n_ctx,
        n_threads=s.n_threads,
        n_threads_batch=s.n_threads_batch,
        n_batch=s.n_batch,
        n_ubatch=s.n_batch,
        rope_freq_base=0.0,
        verbose=False,
    )
    t["ready"] = time.time()
    from rag.store import IndexStore

    store = IndexStore.load(s.index_dir)  # only to fetch the same passage texts
    for i, q in enumerate(osa_questions(questions)):
        v = st.encode([q["question"]], normalize_embeddings=True)
        _, ids = index.search(v, s.top_k)
        rows = store.chunks_by_fid([int(x) for x in ids[0] if x != -1])
        context = "\n\n".join(c.text for c in rows.values())
        messages = [{"role": "user", "content": f"{context}\n\nQuestion: {q['question']}"}]
        for part in llm.create_chat_completion(
            messages=messages, max_tokens=s.max_tokens, temperature=0.0, top_k=1, stream=True
        ):
            if i == 0 and part["choices"][0]["delta"].get("content") and "first_token" not in t:
                t["first_token"] = time.time()
        if i == 0:
            t["first_answer"] = time.time()
    return {"t": t, "peak_rss_bytes": peak_rss_bytes(), "chunks": int(index.ntotal)}


def child_ours_mmap(index_dir: str, model: str) -> dict:
    return child_ours(index_dir, model, use_mmap=True)


def child_ours_cold(index_dir: str, model: str) -> dict:
    return child_ours(index_dir, model, questions=1)


def child_raw_cold(index_dir: str, model: str) -> dict:
    return child_raw(index_dir, model, questions=1)


def spawn(kind: str, index_dir, model: str) -> dict:
    """Run ``child_<kind>`` in a fresh Python; ``*_cold`` kinds after dropping the page cache."""
    if kind.endswith("_cold"):
        why_not = drop_page_cache()
        if why_not:
            raise PermissionError(why_not)
    code = (
        "import json; from benchmarks.bench_footprint import child_" + kind + " as f; "
        f"print('RESULT ' + json.dumps(f({str(index_dir)!r}, {model!r})))"
    )
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    ended = time.time()
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        raise RuntimeError(f"{kind} child failed: {proc.stderr[-2000:]}")
    res = json.loads(line[-1][7:])
    t = res["t"]
    res["seconds"] = {
        k: round(t[k] - t0, 3)
        for k in ("imported", "index_loaded", "ready", "first_token", "first_answer")
        if k in t
    }
    res["seconds"]["python_start"] = round(t["start"] - t0, 3)
    res["seconds"]["exit"] = round(ended - t0, 3)
    return res


def run(ctx: Context) -> dict:
    from rag.store import IndexStore

    index_dir = corpus_index(ctx)
    rounds = int(os.environ.get("BENCH_FOOTPRINT_ROUNDS") or (1 if ctx.quick else 2))
    runs = {"ours": [], "raw": [], "ours_mmap": [], "ours_cold": [], "raw_cold": []}
    cold_skipped = None
    for r in range(rounds):
        kinds = ["ours", "raw", "ours_mmap"]
        if cold_skipped is None and r == 0:  # one dropped-cache start each: reads ~2 GB
            kinds += ["ours_cold", "raw_cold"]
        for kind in kinds if r % 2 == 0 else kinds[::-1]:
            try:
                runs[kind].append(spawn(kind, index_dir, ctx.model))
            except PermissionError as exc:  # not root: the page cache stays warm
                cold_skipped = str(exc)
                log(f"  page cache not dropped ({exc}): warm starts only")
                continue
            peak = fmt_bytes(runs[kind][-1]["peak_rss_bytes"], "GiB")
            log(f"  {kind}: {runs[kind][-1]['seconds']}, peak {peak}")

    def med(kind, key):
        return median([x["seconds"][key] for x in runs[kind]])

    store = IndexStore.load(index_dir)
    files = {
        str(p.relative_to(store.version_dir)): p.stat().st_size
        for p in store.version_dir.rglob("*")
        if p.is_file()
    }
    chunks = len(store)
    text_bytes = sum(len(c.text.encode("utf-8")) for c in store.iter_chunks())
    store.close()
    per_chunk = sum(files.values()) / chunks
    groups = {
        "faiss": sum(v for k, v in files.items() if k.endswith(".faiss")),
        "docstore": sum(v for k, v in files.items() if "docstore" in k),
        "bm25": sum(v for k, v in files.items() if k.startswith("bm25")),
    }
    rss_o = median([x["peak_rss_bytes"] for x in runs["ours"]])
    rss_r = median([x["peak_rss_bytes"] for x in runs["raw"]])
    rss_m = median([x["peak_rss_bytes"] for x in runs["ours_mmap"]])
    ready_o, ready_r = med("ours", "ready"), med("raw", "ready")
    ans_o, ans_r = med("ours", "first_answer"), med("raw", "first_answer")
    default_model = ctx.model == "qwen2.5-1.5b"
    rows = [
        {
            "figure": f"cold start, page cache warm, to ready (process start → index, "
            f"embedder and {ctx.model} loaded) vs the raw libraries loading the same files",
            "ours": f"{ready_o:.2f} s",
            "baseline": f"{ready_r:.2f} s",
            "ratio": round(ready_o / ready_r, 3),
            "target": "≤ 5 s",
            "met": ready_o <= 5.0,
        },
        {
            "figure": "cold start, page cache warm, to first token / to first complete answer "
            "vs the raw libraries (same question; first-question prefill included)",
            "ours": f"{med('ours', 'first_token'):.2f} / {ans_o:.2f} s",
            "baseline": f"{med('raw', 'first_token'):.2f} / {ans_r:.2f} s",
            "ratio": round(ans_o / ans_r, 3),
            "target": "≤ 5 s (first answer)",
            "met": ans_o <= 5.0,
        },
        *cold_rows(runs, cold_skipped),
        {
            "figure": f"peak RSS while serving ({QUESTIONS} questions, {ctx.model}) vs the raw "
            "libraries doing the same",
            "ours": fmt_bytes(rss_o, "GiB"),
            "baseline": fmt_bytes(rss_r, "GiB"),
            "ratio": round(rss_o / rss_r, 3),
            "target": f"≤ 2.5 GB = {fmt_bytes(RSS_TARGET_BYTES, 'GiB')} (default model)"
            if default_model
            else "",
            "met": (rss_o <= RSS_TARGET_BYTES) if default_model else None,
        },
        {
            "figure": "peak RSS / cold start (warm page cache) to ready: model weights read into "
            "memory (use_mmap=False, now the default) vs memory-mapped (llama.cpp's default)",
            "ours": f"{fmt_bytes(rss_o, 'GiB')} / {ready_o:.2f} s",
            "baseline": f"{fmt_bytes(rss_m, 'GiB')} / {med('ours_mmap', 'ready'):.2f} s",
            "ratio": f"{rss_o / rss_m:.2f}× / {ready_o / med('ours_mmap', 'ready'):.2f}×",
            "target": "",
            "met": None,
        },
        {
            "figure": f"index bytes per chunk (bundled corpus, {chunks} chunks: FAISS "
            f"{groups['faiss'] / chunks:.0f} + docstore {groups['docstore'] / chunks:.0f} + "
            f"BM25 {groups['bm25'] / chunks:.0f}) vs the raw float32 vector + UTF-8 text",
            "ours": f"{per_chunk:.0f} B",
            "baseline": f"{384 * 4 + text_bytes / chunks:.0f} B",
            "ratio": round(per_chunk / (384 * 4 + text_bytes / chunks), 2),
            "target": "",
            "met": None,
        },
    ]
    return {
        "rows": rows,
        "details": {
            "model": ctx.model,
            "rounds": rounds,
            "page_cache_dropped": cold_skipped is None,
            "page_cache_not_dropped_because": cold_skipped,
            "runs": runs,
            "index_files": files,
            "chunks": chunks,
            "text_bytes": text_bytes,
        },
    }


def cold_rows(runs: dict[str, list[dict]], skipped: str | None) -> list[dict]:
    """Rows for the starts with a dropped page cache, or one row saying they are warm."""
    if skipped or not runs["ours_cold"] or not runs["raw_cold"]:
        return [
            {
                "figure": "cold start with the page cache dropped: not measured (the page cache "
                f"could not be dropped: {skipped}); every start above had it warm",
                "ours": "–",
                "baseline": "–",
                "ratio": None,
                "target": "",
                "met": None,
            }
        ]

    def med(kind, key):
        return median([x["seconds"][key] for x in runs[kind]])

    return [
        {
            "figure": "cold start, page cache dropped (sync; echo 3 > /proc/sys/vm/drop_caches "
            "before each process: model, libraries and index read from disk), to ready / to "
            "first complete answer vs the raw libraries",
            "ours": f"{med('ours_cold', 'ready'):.2f} / {med('ours_cold', 'first_answer'):.2f} s",
            "baseline": f"{med('raw_cold', 'ready'):.2f} / {med('raw_cold', 'first_answer'):.2f} s",
            "ratio": round(med("ours_cold", "first_answer") / med("raw_cold", "first_answer"), 3),
            "target": "",
            "met": None,
        }
    ]
