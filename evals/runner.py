"""Run question sets through the systems, score every answer, write the report.

Phases (each with a progress bar and ETA): index the set's corpus (cached) ->
answer every question with our pipeline -> (``--baseline``) with the LangChain
chain -> judge citations (lexical check, and the LLM judge with ``--judge``) ->
report. Judging runs after all answers so that judge calls never sit between
two timed questions (they would evict the generator's prompt cache).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

from tqdm import tqdm

from evals.judge import JUDGE_SYSTEM, JUDGE_USER, LexicalJudge, LLMJudge, agreement, load_cases
from evals.metrics import (
    answer_scores,
    citation_scores,
    confidently_wrong,
    context_recall,
    query_keyword_recall,
    retrieval_scores,
    run_labels,
    summarize,
    summarize_retrieval,
)
from evals.paths import REPO_ROOT
from evals.provenance import git_commit
from evals.sets import EvalSet, EvalSetError, cache_dir, ensure_index, normalize_passage_text
from evals.systems import OursSystem, System

RANKED_K = 10  # depth of the ranking scored by the retrieval metrics
LOAD_SAMPLES: list[float] = []  # 1-minute load average after each answered question


def answer_one(system: System, q) -> dict:
    """Ask ``system`` one question; return its record (citation metrics are added later).

    A follow-up (``q.history``) is passed with its earlier turns: ours rewrites it into
    a standalone search query, the baseline uses it as asked. The retrieval metrics
    rank with the query the system actually searched with.
    """
    ans = system.answer(q.question, q.history) if q.history else system.answer(q.question)
    query = ans.search_query or q.question
    ranked = system.ranked(query, RANKED_K)

    def gold_of(p) -> list[str]:
        return [g.label for g in q.gold if g.matches(p.text, p.source)]

    metrics = answer_scores(ans.answer, ans.refused, q.answers, q.keywords)
    metrics["confidently_wrong"] = confidently_wrong(q.answerable, ans.refused, metrics)
    read, context_from = what_was_read(system, ans)
    quotes = [g.quote for g in q.gold if g.quote] if q.answerable else []
    metrics["context_recall"] = context_recall(quotes, read)
    top_score = best_score(ans.retrieved)  # the baseline's chain keeps no scores:
    if top_score is None:  # its top-ranked chunk is its first retrieved one
        top_score = best_score(ranked[:1])
    return {
        "system": system.name,
        "id": q.id,
        "type": q.type,
        "question": q.question,
        "answerable": q.answerable,
        "gold": q.gold_dict(),
        "answer": ans.answer,
        "raw_answer": ans.raw_answer,
        "refused": ans.refused,
        "refusal_reason": ans.refusal_reason,
        "sentences": [{"text": t, "citations": c} for t, c in ans.sentences],
        "citations": [
            {
                "n": n,
                "chunk_id": ans.retrieved[n - 1].chunk_id,
                "source": ans.retrieved[n - 1].source,
            }
            for n in ans.cited
            if 0 < n <= len(ans.retrieved)
        ],
        "retrieved": [
            {
                "n": i,
                "chunk_id": p.chunk_id,
                "source": p.source,
                "score": None if p.score is None else round(float(p.score), 4),
                "gold": gold_of(p),
            }
            for i, p in enumerate(ans.retrieved, start=1)
        ],
        "ranked": [
            {"chunk_id": p.chunk_id, "source": p.source, "gold": gold_of(p)} for p in ranked
        ],
        "metrics": metrics | follow_up_scores(q, query),
        "context_from": context_from,
        "confidence": ans.confidence,
        "signals": ans.signals,
        "top_score": top_score,
        "abstention_score": ans.confidence if system.name == "ours" else top_score,
        **follow_up_fields(q, ans, query),
        "timings": ans.timings,
        "_passages": {i: p.text for i, p in enumerate(ans.retrieved, start=1)},
        "_gold_labels": [g.label for g in q.gold] if q.answerable else [],
    }


def what_was_read(system: System, ans) -> tuple[str, str]:
    """The text the model read, and where it came from (for ``context_recall``).

    Ours: its ``Answer.context`` sentences ("context"); when it recorded none, the
    retrieved passages stand in ("fallback"). The baseline reads the whole retrieved
    passages ("passages").
    """
    if ans.context_text:
        return ans.context_text, "context" if system.name == "ours" else "passages"
    passages = "\n\n".join(p.text for p in ans.retrieved)
    return passages, "fallback" if system.name == "ours" else "passages"


def best_score(passages) -> float | None:
    """The best retrieved passage's cosine score (the baseline's abstention score)."""
    scores = [float(p.score) for p in passages if p.score is not None]
    return round(max(scores), 4) if scores else None


def follow_up_fields(q, ans, query: str) -> dict:
    """The conversation and the search query of a follow-up question (else nothing)."""
    if not q.history:
        return {}
    return {
        "history": q.history,
        "standalone": q.standalone,
        "search_query": query,
        "rewrite_method": ans.rewrite_method,
    }


def follow_up_scores(q, query: str) -> dict:
    """``query_keyword_recall`` of a follow-up: the standalone question's words in the query."""
    if not q.history:
        return {}
    return {"query_keyword_recall": query_keyword_recall(query, q.standalone)}


def answer_all(
    systems: list[System],
    evalset: EvalSet,
    progress: bool = True,
    previous: dict[tuple[str, str], dict] | None = None,
) -> dict[str, list[dict]]:
    """Answer every question with every system; return records per system (unjudged).

    The systems take turns question by question, so a busy machine slows both alike.
    A system whose record of a question is in ``previous`` (see ``load_previous``)
    is not asked it again: the record is reused as it was scored.
    """
    previous = previous or {}
    names = [s.name for s in systems]
    for system in systems:
        if any((system.name, q.id) not in previous for q in evalset.questions):
            system.warm_up()
            system.prime()
    records: dict[str, list[dict]] = {n: [] for n in names}
    bar = tqdm(
        evalset.questions, desc=f"answering ({' + '.join(names)})", unit="q", disable=not progress
    )
    for q in bar:
        asked = False
        for system in systems:
            earlier = previous.get((system.name, q.id))
            if earlier is None:
                records[system.name].append(answer_one(system, q))
                asked = True
                continue
            record = dict(earlier, resumed=True)
            record["_gold_labels"] = [g.label for g in q.gold] if q.answerable else []
            records[system.name].append(record)
        if asked:
            LOAD_SAMPLES.append(os.getloadavg()[0])
        bar.set_postfix(
            {f"{name} refused": sum(r["refused"] for r in recs) for name, recs in records.items()}
        )
    return records


# Settings that change speed, not answers: a resumed run may differ in them.
PERFORMANCE_SETTINGS = frozenset({"n_threads", "n_threads_batch", "n_batch", "embed_batch_size"})
# The settings the LangChain baseline reads (evals/baseline.py): its answers can be
# reused by a run that changes only our pipeline's other settings.
BASELINE_SETTINGS = frozenset(
    {
        "model", "n_ctx", "temperature", "max_tokens", "top_k", "chunk_size",
        "chunk_overlap", "embedder", "max_question_chars",
    }
)  # fmt: skip


def load_previous(
    path: Path,
    evalset: EvalSet,
    settings: dict,
    systems: list[str],
    judge: bool,
    compared: frozenset[str] | None = None,
    option: str = "--resume",
) -> tuple[dict[tuple[str, str], dict], dict]:
    """Records of an earlier run (its report directory) to reuse, keyed by (system, id).

    The earlier run must be of the same set with the same answer-affecting settings,
    the same systems and the same judging; otherwise its scores would not be
    comparable and an ``EvalSetError`` says which setting differs (``compared``: only
    these settings need to match, e.g. ``BASELINE_SETTINGS``). Only questions of
    the current sample are kept (a ``--limit 150`` run extends to ``--limit 300``:
    the fixed-seed sample of 300 starts with the 150).
    """
    path = Path(path)
    summary_path, results_path = path / "summary.json", path / "results.jsonl"
    if not summary_path.is_file() or not results_path.is_file():
        raise EvalSetError(f"{option} {path}: no summary.json and results.jsonl there")
    meta = json.loads(summary_path.read_text(encoding="utf-8"))["meta"]
    if meta.get("mode") == "retrieval-only":
        raise EvalSetError(f"{option} {path}: a retrieval-only run has no answers to reuse")
    if meta["set"] != evalset.name:
        raise EvalSetError(f"{option} {path}: it ran set '{meta['set']}', not '{evalset.name}'")
    if meta.get("seed", 0) != evalset.seed or meta.get("split") != evalset.split:
        raise EvalSetError(f"{option} {path}: it used another --seed or --split")
    before = meta["settings"]
    changed = sorted(
        key
        for key in set(before) | set(settings)
        if key not in PERFORMANCE_SETTINGS
        and (compared is None or key in compared)
        and before.get(key) != settings.get(key)
    )
    if changed:
        diffs = ", ".join(f"{k}: {before.get(k)!r} -> {settings.get(k)!r}" for k in changed)
        raise EvalSetError(f"{option} {path}: settings differ ({diffs})")
    missing = sorted(set(systems) - set(meta["systems"]))
    if missing:
        raise EvalSetError(f"{option} {path}: it did not run {', '.join(missing)}")
    if judge and not meta["judge"]["llm_enabled"]:
        raise EvalSetError(f"{option} {path}: it ran without the LLM judge; add --no-judge")
    wanted = {q.id for q in evalset.questions}
    records = {}
    for line in results_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if row["system"] in systems and row["id"] in wanted:
                row.pop("resumed", None)
                records[(row["system"], row["id"])] = row
    source = {
        "path": _rel(path),
        "git_commit": meta.get("git_commit"),
        "date": meta.get("date"),
        "command": meta.get("command"),
    }
    return records, source


def add_retrieval_metrics(records: list[dict], k: int, cutoffs: tuple[int, ...] = ()) -> None:
    items = {
        r["id"]: (
            r["_gold_labels"],
            run_labels([p["gold"] for p in r["ranked"]], [p["chunk_id"] for p in r["ranked"]]),
        )
        for r in records
    }
    scores = retrieval_scores(items, k, cutoffs)
    names = ("recall@k", "recall@10", "mrr@10", "ndcg@10", *(f"recall@{c}" for c in cutoffs))
    for r in records:
        for name in dict.fromkeys(names):
            r["metrics"][name] = scores.get(r["id"], {}).get(name)


def retrieve_one(pipe, q) -> dict:
    """Retrieve for one question with the pipeline's own retrieval stage, without generating.

    `RagPipeline.retrieve_context` is the stage `RagPipeline.stream` runs: the candidate
    pool, the refusal gate's best score and the context selection, timed by the pipeline
    (``retrieve_ms``). The passages the model would read are ``retrieved``; the top-10
    ranking for the metrics is a second, untimed call, as in a full run.
    """
    from rag.prompt_safety import clean_question

    query = clean_question(q.question)
    stage = pipe.retrieve_context(query)
    hits = [c.hit for c in stage.context]
    ranked = pipe.retrieve(query, RANKED_K)

    def gold_of(chunk) -> list[str]:
        return [g.label for g in q.gold if g.matches(chunk.text, chunk.source)]

    return {
        "system": "ours",
        "id": q.id,
        "type": q.type,
        "question": q.question,
        "answerable": q.answerable,
        "gold": q.gold_dict(),
        "top_score": round(float(stage.best_score), 4) if stage.candidates else None,
        "retrieved": [
            {
                "n": n,
                "chunk_id": h.chunk.chunk_id,
                "source": h.chunk.source,
                "score": round(float(h.score), 4),
                "gold": gold_of(h.chunk),
            }
            for n, h in enumerate(hits, start=1)
        ],
        "ranked": [
            {"chunk_id": h.chunk.chunk_id, "source": h.chunk.source, "gold": gold_of(h.chunk)}
            for h in ranked
        ],
        "metrics": {},
        "timings": {"retrieve_ms": stage.retrieve_ms},
        "_gold_labels": [g.label for g in q.gold] if q.answerable else [],
    }


def add_citation_metrics(
    records: list[dict], judges: list, progress: bool = True, desc: str = "judging"
) -> None:
    """ALCE citation recall/precision per record for each judge (``_lex`` / ``_llm`` columns)."""
    suffix = {"lexical": "lex", "llm": "llm"}
    fresh = [r for r in records if not r.get("resumed")]  # reused records keep their scores
    for r in tqdm(fresh, desc=desc, unit="q", disable=not progress):
        sentences = [(s["text"], s["citations"]) for s in r["sentences"]]
        if not r["refused"]:
            # single-passage checks are always needed; passage-major order reuses the KV cache
            pairs = [
                (r["_passages"][n], text)
                for n in sorted({n for _, refs in sentences for n in refs})
                for text, refs in sentences
                if n in refs and n in r["_passages"] and text.strip()
            ]
            for judge in judges:
                if hasattr(judge, "prefetch"):
                    judge.prefetch(pairs)
        for judge in judges:
            key = suffix[judge.name]
            scores = None
            if not r["refused"] and sentences:
                scores = citation_scores(sentences, r["_passages"], judge.entails)
            r["metrics"][f"citation_recall_{key}"] = scores["citation_recall"] if scores else None
            r["metrics"][f"citation_precision_{key}"] = (
                scores["citation_precision"] if scores else None
            )


def unreachable_golds(evalset: EvalSet, store) -> list[dict]:
    """Gold passages that no chunk of the index contains (they cap recall below 1)."""
    chunks = [(c.source, normalize_passage_text(c.text), c.text) for c in store.iter_chunks()]
    missing = []
    for q in evalset.questions:
        for g in q.gold:
            if not any(g.matches(text, source) for source, _, text in chunks):
                missing.append({"id": q.id, **g.to_dict()})
    return missing


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)  # GiB
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def run_eval(
    evalset: EvalSet,
    settings,
    out_dir: Path,
    baseline: bool = False,
    judge: bool = True,
    progress: bool = True,
    command: str = "",
    log=print,
    resume: Path | None = None,
    reuse_baseline: Path | None = None,
    generator=None,
    replayed_from: dict | None = None,
) -> dict:
    """Run ``evalset`` through our pipeline (and the baseline), write the report to ``out_dir``.

    ``resume``: an earlier run's report directory whose answers are reused for the
    questions it already asked (see ``load_previous``). ``reuse_baseline``: an earlier
    run's report directory whose baseline answers and scores are reused (only the
    settings the baseline reads must match), so that comparing a change to our
    pipeline does not re-run the unchanged baseline. ``generator`` replaces our
    pipeline's model (`evals.replay` streams recorded drafts; ``replayed_from`` names
    the run they come from).
    """
    if reuse_baseline is not None and resume is not None:
        raise EvalSetError("use either --resume or --reuse-baseline, not both")
    baseline = baseline or reuse_baseline is not None
    from rag.pipeline import RagPipeline

    started = time.perf_counter()
    phases: dict[str, float] = {}
    now = dt.datetime.now().astimezone()
    commit = git_commit(ignore=[out_dir])  # the code the run starts with; its outputs aside

    t0 = time.perf_counter()
    log(f"indexing {evalset.corpus_dir} (cached by content hash) ...")
    eval_settings, ingest_report = ensure_index(evalset, settings, progress=progress)
    phases["index_s"] = round(time.perf_counter() - t0, 1)
    log(f"index: {eval_settings.index_dir} ({ingest_report.total_chunks} chunks)")

    run_settings = reported_settings(eval_settings)
    previous, resumed_from = {}, None
    if resume is not None:
        names = ["ours", "baseline"] if baseline else ["ours"]
        previous, resumed_from = load_previous(resume, evalset, run_settings, names, judge)
        log(f"reusing {len(previous)} answer(s) from {resume}")
    baseline_from = None
    if reuse_baseline is not None:
        previous, baseline_from = load_previous(
            reuse_baseline,
            evalset,
            run_settings,
            ["baseline"],
            judge,
            compared=BASELINE_SETTINGS,
            option="--reuse-baseline",
        )
        log(f"reusing {len(previous)} baseline answer(s) from {reuse_baseline}")

    pipe = RagPipeline(eval_settings, generator=generator)
    systems: list[System] = [OursSystem(pipe)]
    base = None
    if baseline:
        from evals.baseline import LangChainBaseline

        base = LangChainBaseline(
            eval_settings,
            evalset.corpus_dir,
            cache=cache_dir() / "eval-baseline",
            progress=progress,
        )
        systems.append(base)
    t0 = time.perf_counter()
    LOAD_SAMPLES.clear()
    records = answer_all(systems, evalset, progress, previous)
    if resumed_from is not None:
        resumed_from["questions"] = sum(bool(r.get("resumed")) for r in records["ours"])
    if baseline_from is not None:
        baseline_from["questions"] = sum(bool(r.get("resumed")) for r in records["baseline"])
    load = load_stats()
    phases["answer_s"] = round(time.perf_counter() - t0, 1)
    for name, recs in records.items():
        fresh = [r for r in recs if not r.get("resumed")]
        phases[f"{name}_answer_s"] = round(sum(r["timings"]["total_s"] for r in fresh), 1)
    missing = unreachable_golds(evalset, pipe.store)
    baseline_info = None
    if base is not None:
        baseline_info = {
            "chunks": base.chunks,
            "prompt": "LangChain RAG tutorial 'stuff' prompt",
            "rope_freq_base": base.rope_freq_base,
        }
        base.close()

    k = eval_settings.top_k
    for recs in records.values():
        add_retrieval_metrics(recs, k)

    t0 = time.perf_counter()
    judges: list = [LexicalJudge()]
    llm_judge = None
    if judge:
        llm_judge = LLMJudge(pipe.generator)
        judges.append(llm_judge)
    for name, recs in records.items():
        add_citation_metrics(recs, judges, progress, desc=f"{name}: judging citations")
    cases = load_cases()
    agreements = {"lexical": agreement(LexicalJudge(), cases)}
    if llm_judge is not None:
        agreements["llm"] = agreement(LLMJudge(pipe.generator), cases)
    phases["judge_s"] = round(time.perf_counter() - t0, 1)

    summaries = {name: summarize(recs, k) for name, recs in records.items()}
    phases["total_s"] = round(time.perf_counter() - started, 1)
    meta = {
        **set_meta(evalset, eval_settings, ingest_report),
        "model": pipe.model_name,
        "top_k": k,
        "settings": run_settings,
        "command": command,
        "date": now.isoformat(timespec="seconds"),
        "git_commit": commit,
        "resumed_from": resumed_from,
        "baseline_from": baseline_from,
        "replayed_from": replayed_from,
        "machine": {**machine_info(), "load_while_answering": load},
        "runtime_s": phases,
        "systems": list(records),
        "baseline": baseline_info,
        "judge": {
            "llm_enabled": bool(judge),
            "llm_prompt": {"system": JUDGE_SYSTEM, "user": JUDGE_USER},
            "llm_calls": llm_judge.calls if llm_judge else 0,
            "llm_seconds": round(llm_judge.seconds, 1) if llm_judge else 0.0,
            "lexical_threshold": LexicalJudge().threshold,
            "agreement": agreements,
        },
        "unreachable_gold_passages": missing,
    }
    from evals.report import write_report

    write_report(out_dir, meta, summaries, records)
    return {"meta": meta, "systems": summaries}


RETRIEVAL_CUTOFFS = (5, 10)  # recall@N reported besides recall@k in retrieval-only runs


def run_retrieval_eval(
    evalset: EvalSet,
    settings,
    out_dir: Path,
    progress: bool = True,
    command: str = "",
    log=print,
) -> dict:
    """Retrieval-only run: index, retrieve for every question, score the rankings, report.

    No generator is loaded (the pipeline loads it lazily and only retrieval is
    called), so this takes seconds to minutes rather than hours. The report
    directory has the usual layout with the retrieval metrics and retrieval latency.
    """
    from rag.embeddings import Embedder
    from rag.pipeline import RagPipeline

    started = time.perf_counter()
    phases: dict[str, float] = {}
    now = dt.datetime.now().astimezone()
    commit = git_commit(ignore=[out_dir])

    embedder = Embedder(  # one model load
        settings.embedder, settings.embed_batch_size, cache=settings.model_cache
    )
    t0 = time.perf_counter()
    log(f"indexing {evalset.corpus_dir} (cached by content hash and settings) ...")
    eval_settings, ingest_report = ensure_index(
        evalset, settings, progress=progress, embedder=embedder
    )
    phases["index_s"] = round(time.perf_counter() - t0, 1)
    log(f"index: {eval_settings.index_dir} ({ingest_report.total_chunks} chunks)")

    pipe = RagPipeline(eval_settings, embedder=embedder)
    t0 = time.perf_counter()
    pipe.embedder.warm_up()
    _ = pipe.retriever  # opens the index (and BM25 for hybrid)
    pipe.retrieve_context("warm-up query")  # first-call costs are not timed
    phases["load_s"] = round(time.perf_counter() - t0, 1)

    k = eval_settings.top_k
    t0 = time.perf_counter()
    LOAD_SAMPLES.clear()
    records = []
    for q in tqdm(evalset.questions, desc="retrieving", unit="q", disable=not progress):
        records.append(retrieve_one(pipe, q))
        LOAD_SAMPLES.append(os.getloadavg()[0])
    phases["retrieve_s"] = round(time.perf_counter() - t0, 1)
    load = load_stats()
    add_retrieval_metrics(records, k, RETRIEVAL_CUTOFFS)
    missing = unreachable_golds(evalset, pipe.store)
    summaries = {"ours": summarize_retrieval(records, k, eval_settings.refusal_threshold)}
    phases["total_s"] = round(time.perf_counter() - started, 1)
    meta = {
        "mode": "retrieval-only",
        **set_meta(evalset, eval_settings, ingest_report),
        "index_type": pipe.store.manifest.index_type,
        "model": None,
        "embedder": eval_settings.embedder,
        "retrieval": eval_settings.retrieval,
        "top_k": k,
        "settings": reported_settings(eval_settings),
        "command": command,
        "date": now.isoformat(timespec="seconds"),
        "git_commit": commit,
        "machine": {**machine_info(), "load_while_answering": load},
        "runtime_s": phases,
        "systems": ["ours"],
        "baseline": None,
        "judge": None,
        "unreachable_gold_passages": missing,
    }
    from evals.report import write_report

    write_report(out_dir, meta, summaries, {"ours": records})
    return {"meta": meta, "systems": summaries}


def load_stats() -> dict:
    """Mean and max of the load average sampled while the questions ran."""
    if not LOAD_SAMPLES:
        return {"mean": None, "max": None}
    return {
        "mean": round(sum(LOAD_SAMPLES) / len(LOAD_SAMPLES), 2),
        "max": round(max(LOAD_SAMPLES), 2),
    }


def reported_settings(settings) -> dict:
    """The settings a report records (machine-specific paths left out)."""
    skip = ("model_cache", "corpus_dir", "index_dir")
    return {key: value for key, value in settings.to_dict().items() if key not in skip}


def set_meta(evalset: EvalSet, eval_settings, ingest_report) -> dict:
    """What was asked, over which corpus and index: the part every report shares."""
    return {
        "set": evalset.name,
        "description": evalset.description,
        "questions": len(evalset.questions),
        "answerable": len(evalset.answerable),
        "unanswerable": len(evalset.unanswerable),
        "set_size": evalset.total,
        "limit": evalset.limit,
        "seed": evalset.seed,
        "split": evalset.split,
        "corpus_dir": _rel(evalset.corpus_dir),
        "index_dir": _rel(eval_settings.index_dir),
        "index_chunks": ingest_report.total_chunks,
    }


def _rel(path: Path) -> str:
    path = Path(path).resolve()
    try:
        return path.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)
