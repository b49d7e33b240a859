"""Reuse the records of an earlier run (``--resume``, ``--reuse-baseline``)."""

from __future__ import annotations

import json
from pathlib import Path

from evals.paths import relative
from evals.records import EvalRecord
from evals.sets import EvalSet, EvalSetError

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
    compared: frozenset[str] | None = None,
    option: str = "--resume",
) -> tuple[dict[tuple[str, str], EvalRecord], dict]:
    """Records of an earlier run (its report directory) to reuse, keyed by (system, id).

    The earlier run must be of the same set with the same answer-affecting settings
    and the same systems; otherwise its scores would not be comparable and an
    ``EvalSetError`` says which setting differs (``compared``: only
    these settings need to match, e.g. ``BASELINE_SETTINGS``). Only questions of
    the current sample are kept (a ``--limit 150`` run extends to ``--limit 300``:
    the fixed-seed sample of 300 starts with the 150). Records of a run without the
    LLM judge are judged by it afterwards when this run has it (`add_citation_metrics`).
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
    wanted = {q.id for q in evalset.questions}
    records = {}
    for line in results_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = EvalRecord.from_dict(json.loads(line))
            if record.system in systems and record.id in wanted:
                record.resumed = False
                records[(record.system, record.id)] = record
    source = {
        "path": relative(path),
        "git_commit": meta.get("git_commit"),
        "date": meta.get("date"),
        "command": meta.get("command"),
    }
    return records, source
