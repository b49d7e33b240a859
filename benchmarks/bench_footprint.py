"""Footprint: cold start to first answer, peak memory while serving, index bytes per chunk.

Cold start is measured in fresh processes (the installed app, page cache warm:
the model file was read before, as after `scripts/start.sh` set-up):

- ours: a process that imports `rag`, loads the index, the embedder and the
  model (`RagPipeline.warm_up`: ready to answer), then answers one question;
- baseline: the floor, a process that loads only the same two models with the
  raw libraries (`llama_cpp.Llama`, `SentenceTransformer`, library defaults),
  reads the same FAISS file and answers the same prompt;
- ours with the model file memory-mapped (llama.cpp's default, the app's before).

Times are from process start (the parent's clock around the spawn) to ready,
first token and answer. Peak RSS is the process's high-water mark (VmHWM) after
answering three questions. The two kinds of process alternate.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from benchmarks.common import ROOT, Context, corpus_index, log, median, osa_questions

QUESTIONS = 3


def child_ours(index_dir: str, model: str, use_mmap: bool = False) -> dict:
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
    for i, q in enumerate(osa_questions(QUESTIONS)):
        for event in pipe.stream(q["question"]):
            if i == 0 and event.kind == "token" and "first_token" not in t:
                t["first_token"] = time.time()
        if i == 0:
            t["first_answer"] = time.time()
    return {"t": t, "peak_rss_mb": _peak(), "chunks": len(pipe.store)}


def child_raw(index_dir: str, model: str) -> dict:
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
    for i, q in enumerate(osa_questions(QUESTIONS)):
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
    return {"t": t, "peak_rss_mb": _peak(), "chunks": int(index.ntotal)}


def _peak() -> float:
    from benchmarks.common import peak_rss_mb

    return round(peak_rss_mb(), 1)


def child_ours_mmap(index_dir: str, model: str) -> dict:
    return child_ours(index_dir, model, use_mmap=True)


def spawn(kind: str, index_dir, model: str) -> dict:
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
    rounds = 1 if ctx.quick else 2
    runs = {"ours": [], "raw": [], "ours_mmap": []}
    for r in range(rounds):
        kinds = ("ours", "raw", "ours_mmap")
        for kind in kinds if r % 2 == 0 else kinds[::-1]:
            runs[kind].append(spawn(kind, index_dir, ctx.model))
            log(f"  {kind}: {runs[kind][-1]['seconds']}, peak {runs[kind][-1]['peak_rss_mb']} MB")

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
    rss_o = median([x["peak_rss_mb"] for x in runs["ours"]])
    rss_r = median([x["peak_rss_mb"] for x in runs["raw"]])
    rss_m = median([x["peak_rss_mb"] for x in runs["ours_mmap"]])
    ready_o, ready_r = med("ours", "ready"), med("raw", "ready")
    ans_o, ans_r = med("ours", "first_answer"), med("raw", "first_answer")
    default_model = ctx.model == "qwen2.5-1.5b"
    rows = [
        {
            "figure": f"cold start to ready (process start → index, embedder and {ctx.model} "
            "loaded) vs the raw libraries loading the same files",
            "ours": f"{ready_o:.2f} s",
            "baseline": f"{ready_r:.2f} s",
            "ratio": round(ready_o / ready_r, 3),
            "target": "≤ 5 s",
            "met": ready_o <= 5.0,
        },
        {
            "figure": "cold start to first token / to first complete answer vs the raw "
            "libraries (same question; first-question prefill included)",
            "ours": f"{med('ours', 'first_token'):.2f} / {ans_o:.2f} s",
            "baseline": f"{med('raw', 'first_token'):.2f} / {ans_r:.2f} s",
            "ratio": round(ans_o / ans_r, 3),
            "target": "≤ 5 s (first answer)",
            "met": ans_o <= 5.0,
        },
        {
            "figure": f"peak RSS while serving ({QUESTIONS} questions, {ctx.model}) vs the raw "
            "libraries doing the same",
            "ours": f"{rss_o / 1024:.2f} GB",
            "baseline": f"{rss_r / 1024:.2f} GB",
            "ratio": round(rss_o / rss_r, 3),
            "target": "≤ 2.5 GB (default model)" if default_model else "",
            "met": (rss_o <= 2560) if default_model else None,
        },
        {
            "figure": "peak RSS / cold start to ready: model weights read into memory "
            "(use_mmap=False, now the default) vs memory-mapped (llama.cpp's default)",
            "ours": f"{rss_o / 1024:.2f} GB / {ready_o:.2f} s",
            "baseline": f"{rss_m / 1024:.2f} GB / {med('ours_mmap', 'ready'):.2f} s",
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
            "runs": runs,
            "index_files": files,
            "chunks": chunks,
            "text_bytes": text_bytes,
        },
    }
