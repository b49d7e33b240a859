"""End to end: `rag ask` (RagPipeline.stream) vs the plain LangChain RAG chain.

Both systems come from the evaluation harness, so they are timed by the same code
(`evals.systems.OursSystem`, `evals.baseline.LangChainBaseline`, `cost_fields`):
time to first streamed token and total answer time, measured from the call
(retrieval included) in the same process, same GGUF model, same n_ctx, threads,
batch size and greedy decoding, same documents (corpus/), chunk size and top-k.
Each system is primed with one untimed generation; then the first N questions
of the OSA set are asked in order, alternating which system goes first (N = 8,
``BENCH_E2E_QUESTIONS`` or ``python -m benchmarks.run --e2e-questions N``; 2 with
``--quick``: the default model takes about 30 s per answer on a busy 2-core machine).
Both keep their own llama.cpp context, so each reuses whatever prompt prefix
its previous question left in the KV cache. Before timing, the two llama.cpp
contexts are checked to run with the same effective settings (n_ctx, batch sizes,
decoding and prompt threads, RoPE base and scale from the GGUF file).
"""

from __future__ import annotations

import os

from benchmarks.common import (
    ROOT,
    Context,
    corpus_index,
    log,
    median,
    osa_questions,
    paired_ratio,
    paired_row,
)


def reused(before: list[int], prompt: list[int]) -> int:
    """Prompt tokens already in the KV cache (llama.cpp re-evaluates at least one)."""
    n = 0
    for a, b in zip(before, prompt, strict=False):
        if a != b:
            break
        n += 1
    return min(n, max(0, len(prompt) - 1))


LLAMA_PARAMS = ("n_ctx", "n_batch", "n_ubatch", "n_threads", "n_threads_batch")


def effective_llama_params(context_params, metadata: dict[str, str]) -> dict:
    """llama.cpp context settings as they take effect: 0 for RoPE means "the GGUF's value"."""
    from evals.baseline import gguf_rope_freq_base

    params = {name: int(getattr(context_params, name)) for name in LLAMA_PARAMS}
    base = float(context_params.rope_freq_base)
    params["rope_freq_base"] = base or gguf_rope_freq_base(metadata)
    scale = float(context_params.rope_freq_scale)
    arch = metadata.get("general.architecture", "")
    factor = float(metadata.get(f"{arch}.rope.scaling.factor", 0) or 0)
    params["rope_freq_scale"] = scale or (1.0 / factor if factor else 1.0)
    return params


def check_same_settings(ours: dict, baseline: dict) -> None:
    """Refuse to time two systems whose llama.cpp contexts differ (the figure would be unfair)."""
    differ = {k: (ours[k], baseline.get(k)) for k in ours if ours[k] != baseline.get(k)}
    if differ:
        raise RuntimeError(
            f"ours and the baseline run llama.cpp differently (ours, baseline): {differ}"
        )


def questions_count(ctx: Context) -> int:
    value = os.environ.get("BENCH_E2E_QUESTIONS") or ("2" if ctx.quick else "8")
    n = int(value)
    if n < 1:
        raise ValueError(f"BENCH_E2E_QUESTIONS must be at least 1, got {value}")
    return n


def run(ctx: Context) -> dict:
    from evals.baseline import LangChainBaseline
    from evals.systems import OursSystem
    from rag.config import Settings
    from rag.pipeline import RagPipeline

    n = questions_count(ctx)
    index_dir = corpus_index(ctx)
    settings = Settings(model=ctx.model, index_dir=index_dir)
    ours = OursSystem(RagPipeline(settings))
    base = LangChainBaseline(settings, ROOT / "corpus", cache=ctx.cache)
    base.progress = False
    for system in (ours, base):
        system.warm_up()
        system.prime()
    log(f"baseline chain over {base.chunks} chunks; ours over {len(ours.pipeline.store)} chunks")
    ours_llm, base_llm = ours.pipeline.generator.llm, base.llm.client
    llama = {
        "ours": effective_llama_params(ours_llm.context_params, ours_llm.metadata),
        "baseline": effective_llama_params(base_llm.context_params, base_llm.metadata),
    }
    check_same_settings(llama["ours"], llama["baseline"])
    log(f"both llama.cpp contexts: {llama['ours']}")

    records = []
    for i, q in enumerate(osa_questions(n)):
        pair = {"id": q["id"], "question": q["question"]}
        order = [("ours", ours), ("baseline", base)]
        for name, system in order if i % 2 == 0 else order[::-1]:
            llm = ours.pipeline.generator.llm if name == "ours" else base.llm.client
            before = [int(t) for t in llm.input_ids[: llm.n_tokens]]
            a = system.answer(q["question"])
            prompt = [int(t) for t in llm.input_ids[: a.timings["prompt_tokens"]]]
            pair[name] = {
                "answer": a.answer,
                "refused": a.refused,
                "cached_prompt_tokens": reused(before, prompt),
                **a.timings,
            }
        log(
            f"  {q['id']}: TTFT ours {pair['ours']['first_token_ms'] / 1000:.2f}s "
            f"({pair['ours']['prompt_tokens']} prompt tokens) vs baseline "
            f"{pair['baseline']['first_token_ms'] / 1000:.2f}s "
            f"({pair['baseline']['prompt_tokens']})"
        )
        records.append(pair)
    base.close()

    both = [r for r in records if r["ours"]["first_token_ms"] and r["baseline"]["first_token_ms"]]
    ttft_o = [r["ours"]["first_token_ms"] / 1000 for r in both]
    ttft_b = [r["baseline"]["first_token_ms"] / 1000 for r in both]
    tot_o = [r["ours"]["total_s"] for r in records]
    tot_b = [r["baseline"]["total_s"] for r in records]
    ratio = paired_ratio(ttft_o, ttft_b)
    ptok_o = median([r["ours"]["prompt_tokens"] for r in both])
    ptok_b = median([r["baseline"]["prompt_tokens"] for r in both])
    new_o = median([r["ours"]["prompt_tokens"] - r["ours"]["cached_prompt_tokens"] for r in both])
    new_b = median(
        [r["baseline"]["prompt_tokens"] - r["baseline"]["cached_prompt_tokens"] for r in both]
    )
    shown = [r for r in both if r["ours"].get("evidence_ms")]
    evidence_o = [r["ours"]["evidence_ms"] / 1000 for r in shown]
    evidence_b = [r["baseline"]["first_token_ms"] / 1000 for r in shown]
    judged = [r for r in records if r["ours"].get("judge_ms")]
    judge = [r["ours"]["judge_ms"] / 1000 for r in judged]
    judge_share = [r["ours"]["judge_ms"] / 1000 / r["ours"]["total_s"] for r in judged]
    rows = [
        {
            "figure": f"end to end ({settings.model}, first {n} OSA questions): time to first "
            "token of `rag ask` (RagPipeline.stream) vs the LangChain baseline chain "
            f"(median of per-question ratios; {len(both)} questions where both generated; "
            f"median prompt {ptok_o:.0f} vs {ptok_b:.0f} tokens, of which not in the KV "
            f"cache {new_o:.0f} vs {new_b:.0f})",
            "ours": f"{median(ttft_o):.2f} s",
            "baseline": f"{median(ttft_b):.2f} s",
            "ratio": round(ratio, 3),
            "target": "≤ 0.5",
            "met": ratio <= 0.5,
        },
        {
            "figure": "end to end: time to the evidence highlight (ours: the evidence ids are "
            f"named before the answer; {len(evidence_o)} questions) vs the baseline's first "
            "token on the same questions",
            "ours": f"{median(evidence_o):.2f} s" if evidence_o else "–",
            "baseline": f"{median(evidence_b):.2f} s" if evidence_b else "–",
            "ratio": round(paired_ratio(evidence_o, evidence_b), 3) if evidence_o else None,
            "target": "",
            "met": None,
        },
        {
            "figure": "end to end: the judge's cost per answer (two yes/no forward passes "
            f"over evidence and claim; {len(judge)} judged answers; the baseline has no judge) "
            "and its median share of our answer's total time",
            "ours": f"{median(judge):.2f} s ({median(judge_share):.0%} of the total)"
            if judge
            else "–",
            "baseline": "–",
            "ratio": None,
            "target": "",
            "met": None,
        },
        paired_row(
            "end to end: total answer time (ours includes the checks and the judge) vs "
            "the LangChain baseline chain",
            tot_o,
            tot_b,
        ),
    ]
    return {
        "rows": rows,
        "details": {
            "model": settings.model,
            "questions": n,
            "llama_params": llama,
            "records": records,
            "refused": {
                "ours": sum(r["ours"]["refused"] for r in records),
                "baseline": sum(r["baseline"]["refused"] for r in records),
            },
        },
    }


def plot(result: dict, out_dir) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = result["details"]["records"]
    fig, ax = plt.subplots(figsize=(10, 4))
    x = range(len(recs))
    ax.bar([i - 0.2 for i in x], [r["ours"]["first_token_ms"] / 1000 for r in recs], 0.4,
           label="ours (rag ask)")  # fmt: skip
    ax.bar([i + 0.2 for i in x], [r["baseline"]["first_token_ms"] / 1000 for r in recs], 0.4,
           label="LangChain baseline")  # fmt: skip
    ax.set_xticks(list(x), [r["id"][-3:] for r in recs], rotation=90)
    ax.set_ylabel("time to first token (s)")
    ax.set_title(f"End to end, {result['details']['model']}")
    ax.legend()
    fig.tight_layout()
    name = "e2e_ttft.png"
    fig.savefig(out_dir / name, dpi=110)
    plt.close(fig)
    return [name]
