"""Generation: decode speed inside the app vs llama-cpp-python alone; time to first
token (TTFT) for first, next, repeated and follow-up questions; the KV prefix
cache; thread, batch and OpenMP settings.

All prompts are the app's real prompts (system rules + 4 retrieved passages of the
bundled corpus + question), greedy decoding, the same GGUF file and settings on
both sides of every comparison. Runs alternate between the compared sides.
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
    decode_rate,
    log,
    median,
    osa_questions,
    paired_ratio,
    paired_row,
    token_times,
)

# (n_threads for decoding, n_threads_batch for the prompt, n_batch)
SWEEP = [(1, 1, 512), (1, 2, 512), (2, 2, 512), (1, 1, 256), (2, 2, 256)]


def prompts(ctx: Context, settings, ids: list[str]) -> list[list[dict]]:
    """The app's chat messages for some OSA questions (as `RagPipeline.stream` builds them:
    the selected sentences of the top passages, numbered, under the evidence-first rules)."""
    from rag.context import select_context
    from rag.embeddings import Embedder
    from rag.evidence import format_numbered_passages, number_context
    from rag.prompt_safety import defuse_control_tokens, prompt_safe_hits, prompt_safe_text
    from rag.prompting import build_evidence_messages
    from rag.retrieval import make_retriever
    from rag.store import IndexStore

    store = IndexStore.load(settings.index_dir)
    embedder = Embedder(settings.embedder)
    retriever = make_retriever(store, embedder, settings)
    pool = max(settings.context_pool, settings.top_k) if settings.context_chars else 0
    by_id = {q["id"]: q["question"] for q in osa_questions()}
    out = []
    for qid in ids:
        q = by_id[qid]
        candidates = retriever.search(q, pool or settings.top_k)
        context = select_context(q, candidates, embedder, settings.context_chars, settings.top_k)
        numbered = number_context(context, clean=prompt_safe_text)
        headers = [
            h.chunk.title + (f", page {h.chunk.page}" if h.chunk.page else "")
            for h in prompt_safe_hits([c.hit for c in context])
        ]
        passages = format_numbered_passages(headers, numbered)
        out.append(build_evidence_messages(defuse_control_tokens(q), passages))
    return out


def rewrite_messages(question: str, earlier: str) -> list[dict]:
    """The follow-up rewrite prompt `rag chat` sends before answering a follow-up."""
    from rag.conversation import REWRITE_PROMPT

    return [
        {"role": "system", "content": REWRITE_PROMPT},
        {"role": "user", "content": f"Earlier question: {earlier}\nLast question: {question}"},
    ]


TEXTS: dict[str, set] = {}  # scenario -> answer texts (all must be equal: caching is exact)


def ttft(gen, messages, max_tokens: int = 8, log_to: list | None = None, key=None) -> float:
    """Seconds to the first token; appends (prompt tokens, tokens the KV cache spared)."""
    t0 = time.perf_counter()
    stamps, text = token_times(gen.stream_chat(messages, max_tokens, 0.0))
    if log_to is not None:
        st = gen.last_stats
        log_to.append((st.prompt_tokens, st.extra.get("cached_prompt_tokens", 0)))
    if key:
        TEXTS.setdefault(key, set()).add(text)
    return stamps[0] - t0


def long_answer(messages: list[dict]) -> list[dict]:
    """The same passages with a task that makes the model write at length (decode speed)."""
    return [
        {"role": "system", "content": "You are a helpful assistant."},
        {
            "role": "user",
            "content": messages[-1]["content"]
            + "\n\nTask: summarise each passage in a detailed paragraph of its own.",
        },
    ]


def make_generator(settings, path, **kw):
    from rag.generation import LlamaCppGenerator

    params = {
        "n_ctx": settings.n_ctx,
        "n_threads": settings.n_threads,
        "n_threads_batch": settings.n_threads_batch,
        "n_batch": settings.n_batch,
    } | kw
    gen = LlamaCppGenerator(path, name=settings.model, **params)
    gen.warm_up()
    return gen


# -- 1. decode inside the app vs llama-cpp-python alone ------------------------------
def decode_vs_raw(settings, path, messages, rounds: int, max_tokens: int) -> dict:
    from llama_cpp import Llama

    app = make_generator(settings, path, prefix_cache=False)
    raw = Llama(
        model_path=str(path),
        n_ctx=settings.n_ctx,
        n_threads=settings.n_threads,
        n_threads_batch=settings.n_threads_batch,
        n_batch=settings.n_batch,
        n_ubatch=settings.n_batch,
        rope_freq_base=0.0,
        seed=0,
        verbose=False,
    )

    # The prompt stays in each KV cache after the first call, so every timed run
    # below is (almost) pure decoding of the same tokens on both sides.
    def run_app():
        t0 = time.perf_counter()
        stamps, text = token_times(app.stream_chat(messages, max_tokens, 0.0))
        return decode_rate(stamps), stamps[0] - t0, len(stamps), text

    def run_raw():
        t0 = time.perf_counter()
        stream = raw.create_chat_completion(
            messages=messages,
            max_tokens=max_tokens,
            temperature=0.0,
            top_k=1,
            top_p=1.0,
            min_p=0.0,
            repeat_penalty=1.0,
            seed=0,
            stream=True,
        )
        pieces = (p["choices"][0].get("delta", {}).get("content") for p in stream)
        stamps, text = token_times(pieces)
        return decode_rate(stamps), stamps[0] - t0, len(stamps), text

    run_app(), run_raw()  # fill the caches, untimed
    res = {"app": [], "raw": []}
    for r in range(rounds):
        order = [("app", run_app), ("raw", run_raw)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            rate, first, n, text = fn()
            res[name].append({"tokens_per_s": rate, "ttft_s": first, "tokens": n, "text": text})
            log(f"  decode {name}: {rate:.2f} tok/s over {n} tokens, TTFT {first:.2f}s")
    raw.close()
    app.llm.close()
    app_rates = [x["tokens_per_s"] for x in res["app"]]
    raw_rates = [x["tokens_per_s"] for x in res["raw"]]
    return {
        "runs": res,
        "app_tokens_per_s": median(app_rates),
        "raw_tokens_per_s": median(raw_rates),
        "ratio": paired_ratio(app_rates, raw_rates),
        "same_text": all(
            a["text"] == b["text"] for a, b in zip(res["app"], res["raw"], strict=True)
        ),
    }


# -- 2. TTFT: first, next, repeated, follow-up; prefix cache ------------------------
def ttft_scenarios(settings, path, q1, q2, q2_text, q1_text, rounds: int) -> dict:
    on = make_generator(settings, path, prefix_cache=True)
    off = make_generator(settings, path, prefix_cache=False)
    rw = rewrite_messages("And what did it give the Philippines?", q1_text)
    names = ("cold", "next", "repeat", "followup_on", "followup_off")
    out = {k: [] for k in names}
    tokens = {k: [] for k in names}

    def with_cache():
        on.llm.reset()
        ttft(on, q1)
        out["next"].append(ttft(on, q2, log_to=tokens["next"], key="q2"))  # prefix reused
        out["repeat"].append(ttft(on, q2, log_to=tokens["repeat"], key="q2"))  # same prompt
        ttft(on, rw, 24)  # the rewrite prompt replaces the context
        # the system prefix is restored from its saved state
        out["followup_on"].append(ttft(on, q2, log_to=tokens["followup_on"], key="q2"))

    def without_cache():
        off.llm.reset()
        out["cold"].append(ttft(off, q2, log_to=tokens["cold"], key="q2"))  # nothing cached
        ttft(off, rw, 24)
        # the system prefix is computed again
        out["followup_off"].append(ttft(off, q2, log_to=tokens["followup_off"], key="q2"))

    for r in range(rounds):
        for fn in (with_cache, without_cache) if r % 2 == 0 else (without_cache, with_cache):
            fn()
        log("  TTFT round", r + 1, {k: round(v[-1], 2) for k, v in out.items()})
    prefix = next((p for p in on._prefixes.values() if p is not None), None)
    info = {
        "prefix_tokens": len(prefix.tokens) if prefix else 0,
        "prefix_state_bytes": int(prefix.state.llama_state_size) if prefix and prefix.state else 0,
    }
    for g in (on, off):
        g.llm.close()
    return {
        "seconds": out,
        "prompt_and_cached_tokens": tokens,
        "same_answer_with_and_without_cache": len(TEXTS.get("q2", ())) == 1,
        **info,
    }


# -- 3. threads x batch --------------------------------------------------------------
def sweep(settings, path, messages, rounds: int, max_tokens: int, configs=SWEEP) -> list[dict]:
    gens = {}
    for nt, ntb, nb in configs:
        gens[(nt, ntb, nb)] = make_generator(
            settings, path, n_threads=nt, n_threads_batch=ntb, n_batch=nb, prefix_cache=False
        )
    n_prompt = None
    res = {k: {"prefill": [], "decode": []} for k in gens}
    keys = list(gens)
    for r in range(rounds):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            g = gens[key]
            g.llm.reset()
            t0 = time.perf_counter()
            stamps, text = token_times(g.stream_chat(messages, max_tokens, 0.0))
            TEXTS.setdefault("sweep", set()).add(text)
            n_prompt = g.last_stats.prompt_tokens
            res[key]["prefill"].append(n_prompt / (stamps[0] - t0))
            res[key]["decode"].append(decode_rate(stamps))
            pre, dec = res[key]["prefill"][-1], res[key]["decode"][-1]
            log(f"  threads={key[0]}/{key[1]} batch={key[2]}: {pre:.1f} / {dec:.2f} tok/s")
    for g in gens.values():
        g.llm.close()
    return [
        {
            "n_threads": k[0],
            "n_threads_batch": k[1],
            "n_batch": k[2],
            "prompt_tokens": n_prompt,
            "prefill_tokens_per_s": median(v["prefill"]),
            "decode_tokens_per_s": median(v["decode"]),
            "prefill_runs": v["prefill"],
            "decode_runs": v["decode"],
        }
        for k, v in res.items()
    ]


# -- 4. OpenMP wait policy (separate processes) --------------------------------------
def omp_probe(model: str, index_dir: str) -> dict:
    """Child process: query embedding latency and llama.cpp prefill/decode speed."""
    import rag.config  # noqa: F401 - sets OMP_WAIT_POLICY=PASSIVE unless already set

    if os.environ.get("BENCH_OMP_DEFAULT"):
        os.environ.pop("OMP_WAIT_POLICY", None)  # the libraries' own default, as before
    from rag.config import Settings
    from rag.embeddings import Embedder
    from rag.models import ensure_model

    settings = Settings(model=model, index_dir=index_dir)
    emb = Embedder()
    emb.warm_up()
    times = []
    for q in osa_questions(12):
        t0 = time.perf_counter()
        emb.encode_query(q["question"])
        times.append((time.perf_counter() - t0) * 1000)
    path = ensure_model(model, settings.model_cache)
    # llama.cpp on all cores (the old default), where the waiting policy matters most
    gen = make_generator(settings, path, prefix_cache=False, n_threads=os.cpu_count() or 1)
    messages = prompts(Context(), settings, ["osa-001"])[0]
    t0 = time.perf_counter()
    stamps, _ = token_times(gen.stream_chat(messages, 32, 0.0))
    return {
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(library default)"),
        "embed_query_ms_p50": median(times[2:]),
        "prefill_tokens_per_s": gen.last_stats.prompt_tokens / (stamps[0] - t0),
        "decode_tokens_per_s": decode_rate(stamps),
    }


def omp_compare(ctx: Context, index_dir, rounds: int) -> dict:
    res = {"passive": [], "default": []}
    for r in range(rounds):
        order = ["passive", "default"] if r % 2 == 0 else ["default", "passive"]
        for mode in order:
            env = dict(os.environ)
            env.pop("OMP_WAIT_POLICY", None)
            if mode == "default":
                env["BENCH_OMP_DEFAULT"] = "1"
            code = (
                "import json, sys; from benchmarks.bench_generation import omp_probe; "
                f"print('RESULT ' + json.dumps(omp_probe({ctx.model!r}, {str(index_dir)!r})))"
            )
            proc = subprocess.run(
                [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
            )
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if not line:
                raise RuntimeError(f"omp probe failed: {proc.stderr[-2000:]}")
            res[mode].append(json.loads(line[-1][7:]))
            log(f"  OpenMP {mode}: {res[mode][-1]}")
    return res


def run(ctx: Context) -> dict:
    from rag.config import Settings
    from rag.models import ensure_model

    index_dir = corpus_index(ctx)
    settings = Settings(model=ctx.model, index_dir=index_dir)
    path = ensure_model(settings.model, settings.model_cache)
    qs = {q["id"]: q["question"] for q in osa_questions()}
    q1, q2 = prompts(ctx, settings, ["osa-001", "osa-004"])
    log(
        f"model {settings.model}: n_threads={settings.n_threads} "
        f"n_threads_batch={settings.n_threads_batch} n_batch={settings.n_batch}"
    )

    log("decode inside the app vs llama-cpp-python alone")
    dec = decode_vs_raw(
        settings, path, long_answer(q1), 4 if ctx.quick else 6, 48 if ctx.quick else 64
    )
    log("time to first token: first, next, repeated, follow-up")
    tt = ttft_scenarios(settings, path, q1, q2, qs["osa-004"], qs["osa-001"], 1 if ctx.quick else 3)
    log("threads x batch")
    sw = sweep(settings, path, q1, 1 if ctx.quick else 2, 24, SWEEP[:2] if ctx.quick else SWEEP)
    log("OpenMP wait policy (separate processes)")
    omp = omp_compare(ctx, index_dir, 1 if ctx.quick else 2)

    s = tt["seconds"]
    tok = tt["prompt_and_cached_tokens"]

    def new(name):  # prompt tokens that had to be computed
        return f"{median([p - c for p, c in tok[name]]):.0f}"

    rows = [
        {
            "figure": f"generation ({settings.model}): decode tokens/s inside the app "
            "(LlamaCppGenerator.stream_chat) vs llama-cpp-python alone "
            "(Llama.create_chat_completion), same model, prompt and settings",
            "ours": f"{dec['app_tokens_per_s']:.2f} tok/s",
            "baseline": f"{dec['raw_tokens_per_s']:.2f} tok/s",
            "ratio": round(dec["ratio"], 3),
            "target": "≥ 0.95",
            "met": dec["ratio"] >= 0.95,
        },
        paired_row(
            "TTFT, next question (system-prompt prefix reused from the KV cache) "
            "vs the same question with a cold KV cache (first question); prompt tokens "
            f"computed {new('next')} vs {new('cold')}",
            s["next"],
            s["cold"],
        ),
        {
            "figure": "TTFT, repeated question (whole prompt cached) vs cold; prompt tokens "
            f"computed {new('repeat')} vs {new('cold')}",
            "ours": f"{median(s['repeat']):.3f} s",
            "baseline": f"{median(s['cold']):.2f} s",
            "ratio": round(paired_ratio(s["repeat"], s["cold"]), 4),
            "target": "",
            "met": None,
        },
        paired_row(
            "TTFT, follow-up after the chat's rewrite call: saved system-prefix "
            f"KV state restored ({tt['prefix_tokens']} tokens, "
            f"{tt['prefix_state_bytes'] / 1e6:.1f} MB) vs recomputed; prompt tokens computed "
            f"{new('followup_on')} vs {new('followup_off')}",
            s["followup_on"],
            s["followup_off"],
        ),
    ]
    want = (settings.n_threads, settings.n_threads_batch, settings.n_batch)
    default = next(
        (r for r in sw if (r["n_threads"], r["n_threads_batch"], r["n_batch"]) == want), sw[0]
    )

    def label(r):
        return f"threads {r['n_threads']}/{r['n_threads_batch']} batch {r['n_batch']}"

    for r in sw:
        if r is default:
            continue
        pre = paired_ratio(default["prefill_runs"], r["prefill_runs"])
        dec_ = paired_ratio(default["decode_runs"], r["decode_runs"])
        rows.append(
            {
                "figure": f"prefill / decode tok/s ({r['prompt_tokens']}-token prompt): default "
                f"{label(default)} vs {label(r)} (threads = decode/prompt)",
                "ours": f"{default['prefill_tokens_per_s']:.1f} / "
                f"{default['decode_tokens_per_s']:.2f}",
                "baseline": f"{r['prefill_tokens_per_s']:.1f} / {r['decode_tokens_per_s']:.2f}",
                "ratio": f"{pre:.2f}× / {dec_:.2f}×",
                "target": "",
                "met": None,
            }
        )
    pas, dfl = omp["passive"], omp["default"]
    for key, label, unit in (
        ("embed_query_ms_p50", "query embedding p50", "ms"),
        ("prefill_tokens_per_s", f"llama.cpp prefill at {os.cpu_count()} threads", "tok/s"),
        ("decode_tokens_per_s", f"llama.cpp decode at {os.cpu_count()} threads", "tok/s"),
    ):
        a = [x[key] for x in pas]
        b = [x[key] for x in dfl]
        rows.append(
            paired_row(
                f"OpenMP idle threads sleep (OMP_WAIT_POLICY=PASSIVE, now set by "
                f"rag.config) vs spin (library default): {label}, separate processes",
                a,
                b,
                unit,
                digits=1,
            )
        )
    return {
        "rows": rows,
        "details": {
            "model": settings.model,
            "settings": {
                "n_threads": settings.n_threads,
                "n_batch": settings.n_batch,
                "n_ctx": settings.n_ctx,
            },  # fmt: skip
            "decode": dec,
            "ttft": tt,
            "sweep": sw,
            "same_answer_across_thread_batch_settings": len(TEXTS.get("sweep", ())) == 1,
            "omp": omp,
        },
    }


def plot(result: dict, out_dir) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sw = result["details"]["sweep"]
    s = result["details"]["ttft"]["seconds"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    labels = [
        f"t={r['n_threads']}/{r.get('n_threads_batch', r['n_threads'])} b={r['n_batch']}"
        for r in sw
    ]
    x = range(len(sw))
    a.bar([i - 0.2 for i in x], [r["prefill_tokens_per_s"] for r in sw], 0.4, label="prefill")
    a2 = a.twinx()
    a2.bar([i + 0.2 for i in x], [r["decode_tokens_per_s"] for r in sw], 0.4, color="C1",
           label="decode")  # fmt: skip
    a.set_xticks(list(x), labels)
    a.set_ylabel("prefill tok/s")
    a2.set_ylabel("decode tok/s")
    a.set_title(f"{result['details']['model']}: threads × batch")
    names = ["cold", "next", "repeat", "followup_off", "followup_on"]
    b.bar(names, [median(s[n]) for n in names], color=["C7", "C0", "C2", "C3", "C1"])
    b.set_ylabel("time to first token (s)")
    b.set_title("TTFT by situation")
    b.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    name = "generation.png"
    fig.savefig(out_dir / name, dpi=110)
    plt.close(fig)
    return [name]
