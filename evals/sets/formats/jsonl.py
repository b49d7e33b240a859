"""The JSON-lines question-set format and the bundled OSA sets written in it.

One question per line::

    {"id": "q1", "question": "...", "answerable": true,
     "answers": ["..."],                      # optional: gold answers (any one counts)
     "keywords": ["..."],                     # optional: all must appear in the answer
     "gold_passages": ["doc-id", {"source": "file.md", "quote": "exact text"}],  # optional
     "corpus": "path/to/corpus",              # optional, relative to the set file
     "history": [{"question": "...", "answer": "..."}],  # optional: earlier turns
     "standalone": "..."}                     # optional: the follow-up asked on its own

With ``history`` the question is a follow-up: our system rewrites it from the
earlier questions (as the chat UI does) before retrieving; ``standalone`` is the
question a person would ask without the conversation, the reference for the
rewrite (``query_keyword_recall``).

A gold passage is either an id (the corpus file name, with or without its
extension) or a quote: text that must appear in a retrieved chunk (whitespace and
case are ignored, because the loaders unwrap hard-wrapped lines), optionally
restricted to one ``source`` file.

Named sets, in ``evals/sets/`` over the bundled ``corpus/``: ``osa``, ``osa-heldout``
(written before any tuning for it and never used for tuning), ``osa-heldout2``,
``osa-heldout3``, ``osa-heldout4``, ``osa-heldout5``, ``osa-heldout6``, ``osa-heldout7``,
``osa-heldout8`` and ``osa-heldout9`` (fresh held-out sets, each written before any system
was run on it)
and ``osa-followups`` (short conversations whose last question is a follow-up).
"""

from __future__ import annotations

import json
from pathlib import Path

from evals.paths import EVALS_DIR, REPO_ROOT
from evals.sets.model import EvalSet, EvalSetError, Gold, Question
from evals.sets.registry import SetSource, register

BUNDLED_SETS = {  # name -> (file in evals/sets/, description)
    "osa": ("osa.jsonl", "OSA / ASEAN questions over the bundled corpus/"),
    "osa-heldout": (
        "osa_heldout.jsonl",
        "held-out OSA / ASEAN questions (never used for tuning) over the bundled corpus/",
    ),
    "osa-heldout2": (
        "osa_heldout2.jsonl",
        "second held-out OSA / ASEAN set (frozen 2026-11-30, before any system ran on it) "
        "over the bundled corpus/",
    ),
    "osa-heldout3": (
        "osa_heldout3.jsonl",
        "third held-out OSA / ASEAN set (frozen 2026-11-30, before any system ran on it) "
        "over the bundled corpus/",
    ),
    "osa-heldout4": (
        "osa_heldout4.jsonl",
        "fourth held-out OSA / ASEAN set (frozen 2026-11-30, before any system ran on it) "
        "over the bundled corpus/",
    ),
    "osa-heldout5": (
        "osa_heldout5.jsonl",
        "fifth held-out OSA / ASEAN set (frozen 2026-11-30, before any system ran on it) "
        "over the bundled corpus/",
    ),
    "osa-heldout6": (
        "osa_heldout6.jsonl",
        "sixth held-out OSA / ASEAN set (frozen 2026-11-30, before any system ran on it) "
        "over the bundled corpus/",
    ),
    "osa-heldout7": (
        "osa_heldout7.jsonl",
        "seventh held-out OSA / ASEAN set (frozen 2026-12-01, before any system ran on it) "
        "over the bundled corpus/",
    ),
    "osa-heldout8": (
        "osa_heldout8.jsonl",
        "eighth held-out OSA / ASEAN set (frozen 2026-12-01, before any system ran on it) "
        "over the bundled corpus/",
    ),
    "osa-heldout9": (
        "osa_heldout9.jsonl",
        "ninth held-out OSA / ASEAN set (frozen 2026-12-01, before any system ran on it) "
        "over the bundled corpus/",
    ),
    "osa-followups": (
        "osa_followups.jsonl",
        "OSA / ASEAN follow-up questions (1-2 earlier turns) over the bundled corpus/",
    ),
}


def _bundled(name: str, filename: str, description: str) -> None:
    @register(name)
    def load(source: SetSource) -> EvalSet:
        path = EVALS_DIR / "sets" / filename
        if not path.exists():
            raise EvalSetError(f"the {name} question set is missing: {path}")
        evalset = load_jsonl_set(path, source.corpus or REPO_ROOT / "corpus", name=name)
        evalset.description = description
        return evalset


for _name, (_file, _description) in BUNDLED_SETS.items():
    _bundled(_name, _file, _description)


def _corpus_names(corpus_dir: Path) -> set[str]:
    if not corpus_dir.is_dir():
        return set()
    names = set()
    for p in corpus_dir.rglob("*"):
        if p.is_file():
            names.update({p.name, p.stem})
    return names


def parse_gold(items: list, corpus_names: set[str]) -> list[Gold]:
    """Gold passages from ids, quotes or ``{source, quote}`` / ``{id}`` objects."""
    golds = []
    for i, item in enumerate(items or []):
        label = f"g{i}"
        if isinstance(item, str):
            if item in corpus_names:
                golds.append(Gold(label, doc_id=Path(item).stem if "." in item else item))
            else:
                golds.append(Gold(label, quote=item))
        elif isinstance(item, dict):
            if item.get("id") is not None:
                golds.append(Gold(label, doc_id=str(item["id"])))
            elif item.get("quote"):
                golds.append(Gold(label, source=item.get("source"), quote=str(item["quote"])))
            elif item.get("source"):
                golds.append(Gold(label, doc_id=Path(str(item["source"])).name))
            else:
                raise EvalSetError(f"gold passage {item!r} has no id, quote or source")
        else:
            raise EvalSetError(f"gold passage {item!r} must be a string or an object")
    return golds


def parse_history(items, where: str) -> list[dict]:
    """Earlier turns of a follow-up: ``[{"question": str, "answer": str (optional)}]``."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise EvalSetError(f"{where}: 'history' must be a list of turns")
    turns = []
    for turn in items:
        if not isinstance(turn, dict) or not str(turn.get("question") or "").strip():
            raise EvalSetError(f"{where}: every history turn needs a 'question'")
        turns.append({"question": str(turn["question"]), "answer": str(turn.get("answer") or "")})
    return turns


def _read_rows(path: Path) -> list[dict]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalSetError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc
        for key in ("id", "question"):
            if key not in row:
                raise EvalSetError(f"{path}:{lineno}: missing '{key}'")
        rows.append(row)
    return rows


def load_jsonl_set(
    path: Path, corpus: Path | str | None = None, name: str | None = None
) -> EvalSet:
    """Read a JSON-lines question set; ``corpus`` overrides the file's own ``corpus`` field."""
    path = Path(path)
    rows = _read_rows(path)
    corpora = {r["corpus"] for r in rows if r.get("corpus")}
    if corpus is None:
        if len(corpora) > 1:
            raise EvalSetError(f"{path}: questions name different corpora {sorted(corpora)}")
        corpus = (path.parent / corpora.pop()) if corpora else REPO_ROOT / "corpus"
    corpus_dir = Path(corpus)
    if not corpus_dir.exists():
        raise EvalSetError(f"corpus {corpus_dir} of question set {path} does not exist")
    names = _corpus_names(corpus_dir)
    questions = []
    seen: set[str] = set()
    for row in rows:
        qid = str(row["id"])
        if qid in seen:
            raise EvalSetError(f"{path}: duplicate question id {qid!r}")
        seen.add(qid)
        answers = [str(a) for a in row.get("answers") or []]
        answerable = bool(row.get("answerable", bool(answers)))
        questions.append(
            Question(
                id=qid,
                question=str(row["question"]),
                answerable=answerable,
                answers=answers,
                keywords=[str(k) for k in row.get("keywords") or []],
                gold=parse_gold(row.get("gold_passages") or [], names),
                type=row.get("type") or ("answerable" if answerable else "unanswerable"),
                history=parse_history(row.get("history"), f"{path}: question {qid}"),
                standalone=str(row["standalone"]) if row.get("standalone") else None,
                near_miss=parse_gold(row.get("near_miss") or [], names),
            )
        )
    return EvalSet(name or path.stem, questions, corpus_dir, description=f"questions from {path}")
