"""The sections of an answering run's report, built once for both formats."""

from __future__ import annotations

from evals.records import Records
from evals.report.document import Bullets, Facts, Plot, Plots, Report, Section, Table, Text
from evals.report.tables import (
    abstention_table,
    agreement_table,
    by_type_table,
    cost_table,
    failure_table,
    headline_table,
    resumed_table,
    rewrite_table,
    source_group_table,
    split_table,
)
from evals.report.text import (
    ABSTENTION_NOTE,
    GROUP_NOTE,
    MD_FAILURE_ROWS,
    RESUMED_NOTE,
    REWRITE_NOTE,
    SPLIT_NOTE,
    TUNING_NOTE,
    load_note,
    unreachable_note,
)

# sets whose report splits seed article / White House questions
OSA_GROUP_SETS = (
    "osa",
    "osa-heldout",
    "osa-heldout2",
    "osa-heldout3",
    "osa-heldout4",
    "osa-heldout5",
    "osa-heldout6",
    "osa-heldout7",
    "osa-heldout8",
    "osa-heldout9",
)


def questions_info(meta: dict) -> tuple[str, str]:
    """How many questions ran, and how they were sampled from the set."""
    sample = (
        f"{meta['questions']} of {meta['set_size']} (fixed-seed sample, --limit {meta['limit']}, "
        f"--seed {meta['seed']})"
        if meta["questions"] < meta["set_size"]
        else f"all {meta['questions']}"
    )
    return (
        "Questions",
        f"{sample}; {meta['answerable']} answerable, {meta['unanswerable']} unanswerable",
    )


def machine_info(meta: dict) -> tuple[str, str]:
    """CPU, cores, RAM in GiB (older runs named the field ``memory_gb``) and platform."""
    m = meta["machine"]
    ram = m.get("memory_gib", m.get("memory_gb"))
    return ("Machine", f"{m['cpu']}, {m['cores']} cores, {ram} GiB RAM, {m['platform']}")


def command_info(meta: dict) -> tuple[str, str]:
    return ("Command", f"`{meta['command']}`" if meta["command"] else "(library call)")


def _threads(settings: dict) -> str:
    """llama.cpp threads as decode/prompt (older reports have only ``n_threads``)."""
    decode = settings["n_threads"]
    prompt = settings.get("n_threads_batch", decode)
    return f"{decode} threads" if prompt == decode else f"threads {decode}/{prompt} decode/prompt"


def _run_ref(src: dict) -> str:
    """An earlier run as the reports name it: its command, date and commit."""
    return f"`{src.get('command')}` ({src.get('date')}, git {src.get('git_commit')})"


def _reused_info(meta: dict) -> list[tuple[str, str]]:
    """The earlier runs whose answers this one reused (``--resume``, ``--reuse-baseline``,
    `evals/replay.py`)."""
    out = []
    if src := meta.get("resumed_from"):
        fresh = meta["questions"] - (src.get("questions") or 0)
        out.append((
            "Resumed from",
            f"{src.get('questions')} question(s) answered and scored by {_run_ref(src)}; "
            f"the other {fresh} by this run (git {meta['git_commit'] or 'unknown'}). "
            "Records carry `resumed: true` when reused.",
        ))  # fmt: skip
    if src := meta.get("baseline_from"):
        out.append((
            "Baseline reused",
            f"{src.get('questions')} baseline answer(s), their scores and cost figures from "
            f"{_run_ref(src)}; the baseline's settings match this run's.",
        ))  # fmt: skip
    if src := meta.get("replayed_from"):
        out.append((
            "Drafts replayed",
            f"our model's drafts are the ones recorded by {_run_ref(src)}, re-checked by "
            "this run's code (`evals/replay.py`; greedy decoding: the same prompt gives the "
            "same draft); the judge ran live. Our latency figures are therefore not real "
            "answer times: take latency from the benchmarks or the recorded run.",
        ))  # fmt: skip
    return out


def run_info(meta: dict) -> list[tuple[str, str]]:
    settings = meta["settings"]
    judge = meta["judge"]["llm_enabled"]
    return [
        command_info(meta),
        ("Date", meta["date"]),
        ("Set", f"{meta['set']}: {meta['description']}"),
        questions_info(meta),
        (
            "Corpus / index",
            f"{meta['corpus_dir']} → {meta['index_dir']} ({meta['index_chunks']} chunks)",
        ),
        (
            "Model",
            f"{meta['model']} (greedy, n_ctx {settings['n_ctx']}, {_threads(settings)}), "
            f"top-k {meta['top_k']}, embedder {settings['embedder']}",
        ),
        machine_info(meta),
        ("Code", f"git {meta['git_commit'] or 'unknown'}"),
        *_reused_info(meta),
        (
            "Runtime",
            ", ".join(f"{k.removesuffix('_s')} {v:.0f} s" for k, v in meta["runtime_s"].items()),
        ),
        ("LLM judge", "on" if judge else "off (--no-judge): lexical citation check only"),
    ]


def notes(meta: dict, summaries: dict) -> list[str]:
    out = [
        "Metric definitions and references: `evals/README.md`. Refusals score as empty answers; "
        "citation metrics cover answered (not refused) questions only.",
        "The baseline has no citation markers: each of its answer sentences is taken to cite all "
        f"{meta['top_k']} retrieved passages, so its citation precision measures how many of "
        "those it needed.",
    ]
    load = load_note(
        meta,
        "answering",
        "other processes shared the CPU, so latencies are inflated and noisy; "
        "compare the two systems with each other, not with a quiet machine.",
    )
    missing = unreachable_note(meta, "e.g. quoted from YAML front matter, which the loader strips")
    out += [note for note in (load, missing) if note]
    fallback = (summaries.get("ours") or {}).get("context_fallback")
    if fallback:
        out.append(
            f"Context recall: for {fallback} of our answers the pipeline recorded no context "
            "sentences (`Answer.context` empty), so the retrieved passages stood in for what "
            "the model read (`context_from: fallback` in results.jsonl)."
        )
    return out


def _optional(title: str, note: str | None, table: Table | None) -> list[Section]:
    """A section with its note and table, or none when there is no table."""
    if table is None:
        return []
    return [Section(title, ([Text(note)] if note else []) + [table])]


def build_report(meta: dict, summaries: dict, records: Records, plots: list[Plot]) -> Report:
    k = meta["top_k"]
    halves = split_table(records, k) if meta.get("split", "all") == "all" else None
    groups = source_group_table(records, k) if meta.get("set") in OSA_GROUP_SETS else None
    resumed = resumed_table(records, k) if meta.get("resumed_from") else None
    failed = failure_table(records, MD_FAILURE_ROWS)
    return Report(
        "Evaluation report",
        meta["set"],
        [
            Section("", [Facts(run_info(meta))]),
            Section("Headline metrics", [headline_table(summaries, k)]),
            Section("Cost (p50 / p95)", [cost_table(summaries)]),
            Section("Plots", [Plots(plots)]),
            Section(
                "Citation judges: agreement with 30 hand-labelled cases", [agreement_table(meta)]
            ),
            *_optional(
                "Abstention: risk-coverage and AUROC", ABSTENTION_NOTE, abstention_table(summaries)
            ),
            *_optional("Dev (tuning) and test (held-out) halves", SPLIT_NOTE, halves),
            *_optional("Seed article vs White House statements", GROUP_NOTE, groups),
            *_optional("Earlier and new questions (resumed run)", RESUMED_NOTE, resumed),
            Section("Tuning and held-out data", [Text(TUNING_NOTE)]),
            *_optional("By question type", None, by_type_table(records)),
            *_optional("Follow-ups: search queries", REWRITE_NOTE, rewrite_table(records)),
            Section(
                f"Failures ({len(failed.rows)} questions where a system is not fully right)",
                [failed],
            ),
            Section("Notes", [Bullets(notes(meta, summaries))]),
        ],
    )
