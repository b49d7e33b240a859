"""Labels, number formatting and the fixed texts of the reports."""

from __future__ import annotations

SYSTEM_LABELS = {"ours": "ours", "baseline": "baseline (LangChain)"}
COLORS = {"ours": "#1f77b4", "baseline": "#ff7f0e"}
COST_LABELS = {
    "retrieve_ms": "Retrieval (ms)",
    "first_token_ms": "Time to first token (ms)",
    "total_s": "Total per question (s)",
    "prompt_tokens": "Prompt tokens",
    "completion_tokens": "Generated tokens",
    "tokens_per_s": "Decode speed (tokens/s)",
}
MD_FAILURE_ROWS = 100  # report.md lists at most this many failures (report.html: all)

REWRITE_NOTE = (
    "Each follow-up is asked after its earlier turns. Ours rewrites it into a standalone "
    "search query with rag.conversation.rewrite_question (the chat UI's code: model rewrite, "
    "else the heuristic 'question (follow-up to: earlier question)'); the baseline, a plain "
    "chain without memory, searches with the follow-up as asked. Recall = share of the "
    "reference standalone question's content words found in the search query."
)
SPLIT_NOTE = (
    "Halves fixed by a hash of each question id (`evals.sets.in_split`; run one with "
    "`--split`). What each set was used for is in the tuning note below."
)
# What was tuned on which data: printed in every report (Markdown and HTML).
TUNING_NOTE = (
    "Tuning and held-out data: the osa dev half was used to tune the refusal threshold, "
    "context and prompt settings and, for the evidence-first design, the date ranking "
    "(date_weight); the osa full set, squad2-dev and clapnq-dev samples were used when "
    "choosing the BM25 weight, MMR (off) and the embedder, and the refusal-rule probe used "
    "the osa set; the osa test half is therefore not fully untouched. The judge's prompts "
    "were chosen on 8 hand-made cases about the seed article, not on any set. The "
    "calibration model (rag/calibration.json) is fitted on the osa dev half and on "
    "squad2-calibration (SQuAD 2.0 dev minus the reported 300-question sample), disjoint "
    "from every other reported set. `osa-heldout` (sha256 in evals/README.md) was written "
    "before any tuning for it and no setting was tuned on it; it and the osa test half "
    "decided once whether to adopt a variant chosen on the dev half (claim re-grounding, "
    "question names in whole passages, a refitted calibration): it was not adopted. The "
    "claim check that a claim's facts are stated about the question's countries "
    "(facts_about_question_countries) was written from one probe question outside every set, "
    "checked on osa dev half and squad2-calibration replays, then measured on osa-heldout "
    "and the osa test half; it was narrowed to countries after the test half showed it "
    "dropping a right sentence (osa-053), so for this check the test half is not untouched "
    "(the narrowed check fails a subset of what the first did). `osa-heldout2` was untouched "
    "until its first run (2026-11-30 14:17); that run showed the question-name check taking "
    'a question\'s opening word for a name ("Apart from ..."), fixed after it: for that '
    "fix osa-heldout2 is no longer untouched. After replays of osa-heldout and the osa test "
    'half showed questions saying "Japanese" refused for evidence saying "Japan", a '
    "country's adjective counts as the country (rag/countries.py); it let the test half's "
    "near miss osa-070 through, and the claim check question_names_in_its_passages was "
    "written for it (then widened to every passage a sentence cites after it refused a "
    "right answer on osa-heldout, ho-026). `osa-heldout3` (sha256 in evals/README.md) was "
    "written before all three changes and is untouched by them; its first run (17:23, "
    "git 9f35c20) is its first use. Refusing a draft whose first sentence (the one that "
    "answers) is unsupported was chosen after that run (h3-071) and checked by replays of "
    "osa-heldout3, osa-heldout, osa-heldout2 and the osa set: for it, these sets are not "
    "untouched. Keyword accuracy and answer containment split joined compounds "
    '("Tagalog-language") from then on (a metric fix, both systems alike). `osa-heldout4` '
    "(sha256 in evals/README.md) was written before both; its first run (20:18, git "
    "4fbef64) showed right answers refused because the question names a thing by another "
    'name than its evidence ("Tokyo" for Japan, "American", "South Korea" for the ROK, '
    '"the White House"), and "What sum" taken for a thing to find: the other names '
    "(rag/aliases.py) and that answer kind were added after it and checked by replays of "
    "osa-heldout4, osa-heldout3, osa-heldout and the osa set (leaders covered by their "
    "country were tried and dropped after osa-heldout3 h3-016), so for them these sets are "
    "not untouched. `osa-heldout5` (sha256 in evals/README.md) was written before these "
    "changes; its first run (22:45, git 30af856) showed more right answers refused for a "
    "person or place of the question named elsewhere in the answer's document (Kishida, "
    'Wilmington), for China named the PRC, Kuala Lumpur, Europe as European, and "what '
    "reason / which field / on what terms\" taken for things to find: a question's name "
    "that is no country may be in the whole document, and those other names and answer "
    "kinds were added after it, checked by replays of osa-heldout5, osa-heldout4 and "
    "osa-heldout3. `osa-heldout6` (sha256 in evals/README.md) was written before these "
    "changes; its first run (23:52, git aec025a) was its first use. Re-grounding a claim "
    "whose named evidence fails on the closest read sentence (reground_claims, on by "
    'default since 2026-12-01) and "on what date" asking for a number were chosen on '
    "replays of osa-heldout6 and osa-heldout5, so for them these sets are not untouched; "
    "a calibration refitted on osa-heldout2/3 as well was tried on replays of "
    "osa-heldout4-6 and not adopted. `osa-heldout7` (sha256 in evals/README.md) was "
    "written before these changes; its first run (2026-12-01 01:59, git 2deb0ba) was its "
    "first use, then replays of it (re-grounding off; calibration off, checking refits "
    "that were not adopted). The event-date claim check (undated_event_date) was "
    "written from h7-041 and h5-052 and narrowed on replays of the osa dev half and "
    "osa-heldout4-7; two more calibration signals were tried and not adopted on replays "
    "of the osa dev half, squad2-calibration and osa-heldout2-7. `osa-heldout8` (sha256 in "
    "evals/README.md) was written before all of this; its first run (2026-12-01 05:04, "
    "git c5a15a0) was its first use; a number inside a name (COVID-19) no longer "
    "counts as the number a how-many question asks for since its near miss h8-050, so for "
    "that change it is used. `osa-heldout9` (sha256 in evals/README.md) is "
    "untouched: no system has been run on it."
)
RESUMED_NOTE = (
    "This run reused the answers of an earlier run (`--resume`) for part of its questions. "
    "The two parts are disjoint fixed-seed samples of the same set, answered by the code "
    "of their own commits (see above); their metrics side by side:"
)
SEED_SOURCE = "japan-osa-malaysia-visit.txt"
GROUP_NOTE = (
    "A question is a seed-article question when one of its gold or near-miss passages is "
    f"from {SEED_SOURCE}, else a White House statements question (all other corpus files)."
)
ABSTENTION_NOTE = (
    "Abstention score: ours = its calibrated confidence (`Answer.confidence`); baseline = "
    "its best retrieved passage's cosine score. Wrong = keyword accuracy 0 (sets with "
    "keywords), else answer not contained and token F1 < 0.2; any answer to an unanswerable "
    "question is wrong. Coverage = answered / all questions; error rate = wrong / answered; "
    "'own decisions' = the system's refusals only, 'score ≥ t' = it also abstains below t. "
    "AUROC (sklearn roc_auc_score): positive = answering is right; answered questions rank "
    "by score, refused ones below all of them (a refused unanswerable question is a right "
    "decision, a refused answerable one a wrong one). 'answered only' leaves the refused "
    "out. Definitions: evals/README.md."
)


def fmt(value, digits: int = 3) -> str:
    """A metric as text: floats to ``digits`` places, ``None`` as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def snippet(text: str | None, n: int = 90) -> str:
    """``text`` on one line, cut to ``n`` characters with an ellipsis."""
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def metric_label(label: str, k: int, higher: bool | None = None) -> str:
    """A metric's label with the run's k, and ↑/↓ when ``higher`` is given."""
    label = label.replace("Recall@k", f"Recall@{k}")
    return label if higher is None else f"{label} {'↑' if higher else '↓'}"


def load_note(meta: dict, activity: str, busy: str) -> str | None:
    """The CPU load while the questions ran; ``busy`` says what a busy machine means."""
    load = meta["machine"].get("load_while_answering") or {}
    cores = meta["machine"].get("cores") or 1
    if load.get("mean") is None:
        return None
    return (
        f"CPU load while {activity} (1-min load average): mean {load['mean']:.1f}, max "
        f"{load['max']:.1f} on {cores} cores"
        + (f": {busy}" if load["mean"] > 0.75 * cores else ".")
        + (f" (source: {load['source']})" if load.get("source") else "")
    )


def unreachable_note(meta: dict, why: str = "") -> str | None:
    """Gold passages no indexed chunk contains (``why``: a likely cause, in parentheses)."""
    missing = meta["unreachable_gold_passages"]
    if not missing:
        return None
    ids = ", ".join(sorted({g["id"] for g in missing}))
    return (
        f"{len(missing)} gold passage(s) occur in no indexed chunk{f' ({why})' if why else ''}: "
        f"{ids}. They cap retrieval recall for those questions."
    )
