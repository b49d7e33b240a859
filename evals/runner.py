"""Run question sets through the systems, score every answer, write the report.

Phases (each with a progress bar and ETA): index the set's corpus (cached) ->
answer every question with our pipeline -> (``--baseline``) with the LangChain
chain -> judge citations (lexical check, and the LLM judge with ``--judge``) ->
report. Judging runs after all answers so that judge calls never sit between
two timed questions (they would evict the generator's prompt cache).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path

from tqdm import tqdm

from evals.judge import JUDGE_SYSTEM, JUDGE_USER, LexicalJudge, LLMJudge, agreement, load_cases
from evals.machine import LoadSampler, machine_info
from evals.metrics import summarize, summarize_retrieval
from evals.paths import relative
from evals.provenance import git_commit
from evals.records import EvalRecord
from evals.resume import BASELINE_SETTINGS, load_previous
from evals.scoring import (
    add_citation_metrics,
    add_retrieval_metrics,
    answer_one,
    rescore,
    retrieve_one,
    unreachable_golds,
)
from evals.sets import EvalSet, EvalSetError, cache_dir, ensure_index
from evals.systems import OursSystem, System

__all__ = ["answer_all", "git_commit", "machine_info", "run_eval", "run_retrieval_eval"]


def answer_all(
    systems: list[System],
    evalset: EvalSet,
    progress: bool = True,
    previous: dict[tuple[str, str], EvalRecord] | None = None,
    load: LoadSampler | None = None,
) -> dict[str, list[EvalRecord]]:
    """Answer every question with every system; return records per system (unjudged).

    The systems take turns question by question, so a busy machine slows both alike.
    A system whose record of a question is in ``previous`` (see ``load_previous``)
    is not asked it again: its record is reused, its answer scored again by today's
    metric code (`rescore`).
    """
    previous = previous or {}
    names = [s.name for s in systems]
    for system in systems:
        if any((system.name, q.id) not in previous for q in evalset.questions):
            system.warm_up()
            system.prime()
    records: dict[str, list[EvalRecord]] = {n: [] for n in names}
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
            record = rescore(dataclasses.replace(earlier, resumed=True), q)
            records[system.name].append(record)
        if asked and load is not None:
            load.sample()
        bar.set_postfix(
            {f"{name} refused": sum(r.refused for r in recs) for name, recs in records.items()}
        )
    return records


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
        previous, resumed_from = load_previous(resume, evalset, run_settings, names)
        log(f"reusing {len(previous)} answer(s) from {resume}")
    baseline_from = None
    if reuse_baseline is not None:
        previous, baseline_from = load_previous(
            reuse_baseline,
            evalset,
            run_settings,
            ["baseline"],
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
    sampler = LoadSampler()
    records = answer_all(systems, evalset, progress, previous, sampler)
    if resumed_from is not None:
        resumed_from["questions"] = sum(r.resumed for r in records["ours"])
    if baseline_from is not None:
        baseline_from["questions"] = sum(r.resumed for r in records["baseline"])
    load = sampler.stats()
    phases["answer_s"] = round(time.perf_counter() - t0, 1)
    for name, recs in records.items():
        fresh = [r for r in recs if not r.resumed]
        phases[f"{name}_answer_s"] = round(sum(r.timings["total_s"] for r in fresh), 1)
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
    sampler = LoadSampler()
    records = []
    for q in tqdm(evalset.questions, desc="retrieving", unit="q", disable=not progress):
        records.append(retrieve_one(pipe, q))
        sampler.sample()
    phases["retrieve_s"] = round(time.perf_counter() - t0, 1)
    load = sampler.stats()
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
        "corpus_dir": relative(evalset.corpus_dir),
        "index_dir": relative(eval_settings.index_dir),
        "index_chunks": ingest_report.total_chunks,
    }
