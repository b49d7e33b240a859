"""Validate an OSA evaluation question set (evals/sets/osa.jsonl, osa_heldout.jsonl,
osa_heldout2.jsonl, osa_heldout3.jsonl, osa_heldout4.jsonl, osa_heldout5.jsonl,
osa_heldout6.jsonl, osa_heldout7.jsonl, osa_heldout8.jsonl, osa_heldout9.jsonl).

Checks the schema, unique ids (``osa-001``.. for osa.jsonl, ``ho-001``.. for
osa_heldout.jsonl, ``h2-001``.. for osa_heldout2.jsonl, ``h3-001``.. for
osa_heldout3.jsonl, ``h4-001``.. for osa_heldout4.jsonl, ``h5-001``.. for
osa_heldout5.jsonl, ``h6-001``.. for osa_heldout6.jsonl, ``h7-001``.. for
osa_heldout7.jsonl, ``h8-001``.. for osa_heldout8.jsonl, ``h9-001``.. for
osa_heldout9.jsonl, otherwise the prefix of the first id), per-type counts and
minimums, that every gold / near-miss quote is a single-line quote found in the
document text *as the project's loader produces it*
(``rag.loaders.load_document``: YAML front matter stripped, hard-wrapped lines
unwrapped; whitespace is normalised on both sides), and that every keyword of an
answerable question occurs (case-insensitively) both in one of its gold answers and in
the loaded text of at least one of its gold sources. A quote that is only in the front
matter (e.g. the title) is rejected: no indexed chunk contains it.

Usage:
    python evals/sets/check_osa_set.py [CORPUS_DIR] [--set PATH]

CORPUS_DIR defaults to the bundled ``corpus/``. Needs the project's environment
(``. .venv/bin/activate``). Exits non-zero if any error is found.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DEFAULT_CORPUS = REPO_ROOT / "corpus"
DEFAULT_SET = HERE / "osa.jsonl"

TYPES = {"single-fact", "numeric", "list", "synthesis", "cross-document", "unanswerable"}
REQUIRED = {
    "id": str,
    "question": str,
    "answerable": bool,
    "answers": list,
    "keywords": list,
    "gold_passages": list,
    "type": str,
}
OPTIONAL = {"notes": str, "near_miss": list}
SEED = "japan-osa-malaysia-visit.txt"
FIRST_QUESTION = "Which countries are the first recipients of Japan's OSA?"  # osa.jsonl only
# Per set file: (id prefix, minimum questions, answerable, unanswerable).
SET_RULES = {
    "osa.jsonl": ("osa", 64, 45, 16),
    "osa_heldout.jsonl": ("ho", 70, 46, 24),
    "osa_heldout2.jsonl": ("h2", 70, 40, 24),
    "osa_heldout3.jsonl": ("h3", 70, 40, 24),
    "osa_heldout4.jsonl": ("h4", 60, 40, 20),
    "osa_heldout5.jsonl": ("h5", 60, 40, 20),
    "osa_heldout6.jsonl": ("h6", 60, 40, 20),
    "osa_heldout7.jsonl": ("h7", 60, 40, 20),
    "osa_heldout8.jsonl": ("h8", 60, 40, 20),
    "osa_heldout9.jsonl": ("h9", 60, 40, 20),
}


def norm(text: str) -> str:
    """Lower-case and collapse all whitespace (incl. non-breaking spaces)."""
    return " ".join(text.split()).lower()


def squash(text: str) -> str:
    """Collapse all whitespace (incl. non-breaking spaces), keeping case."""
    return " ".join(text.split())


def load_corpus(corpus_dir: Path) -> tuple[dict[str, str], list[str]]:
    """File name -> whitespace-collapsed text as ``rag.loaders`` produces it (front matter
    stripped); and the files the loader could not read."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from rag.loaders import SUPPORTED_SUFFIXES, LoadError, load_document

    corpus, skipped = {}, []
    for p in sorted(corpus_dir.iterdir()):
        if not p.is_file() or p.suffix.lower() not in SUPPORTED_SUFFIXES:
            continue
        try:
            corpus[p.name] = squash(load_document(p).text)
        except LoadError as exc:
            skipped.append(f"{p.name}: {exc}")
    return corpus, skipped


def set_rules(set_path: Path, items: list[dict]) -> tuple[str, int, int, int]:
    """Id prefix and minimum counts of a set file (unknown files: the first id's prefix)."""
    if set_path.name in SET_RULES:
        return SET_RULES[set_path.name]
    first = str(items[0].get("id", "")) if items else ""
    return (first.rsplit("-", 1)[0] or "osa"), 1, 0, 0


def check_passages(qid, field, passages, corpus, errors, warnings):
    """Check a list of {source, quote} objects; return the set of sources."""
    sources = set()
    for i, p in enumerate(passages):
        where = f"{qid} {field}[{i}]"
        if not isinstance(p, dict) or set(p) != {"source", "quote"}:
            errors.append(f"{where}: must be an object with exactly 'source' and 'quote'")
            continue
        src, quote = p["source"], p["quote"]
        if src not in corpus:
            errors.append(f"{where}: unknown source {src!r}")
            continue
        if not isinstance(quote, str) or not quote.strip():
            errors.append(f"{where}: empty quote")
            continue
        if "\n" in quote:
            errors.append(f"{where}: quote spans a line break")
        if squash(quote) not in corpus[src]:
            errors.append(
                f"{where}: quote not found in the loaded text of {src} "
                f"(front matter is stripped): {quote!r}"
            )
            continue
        n_words = len(quote.split())
        if not 4 <= n_words <= 20:
            warnings.append(f"{where}: quote has {n_words} words")
        hits = [name for name, text in corpus.items() if squash(quote) in text]
        if len(hits) > 1:
            warnings.append(f"{where}: quote also occurs in {sorted(set(hits) - {src})}")
        sources.add(src)
    return sources


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("corpus_dir", nargs="?", default=str(DEFAULT_CORPUS))
    ap.add_argument("--set", dest="set_path", default=str(DEFAULT_SET))
    args = ap.parse_args(argv)

    corpus_dir = Path(args.corpus_dir)
    if not corpus_dir.is_dir():
        print(f"ERROR: corpus dir not found: {corpus_dir}")
        return 2
    set_path = Path(args.set_path)
    if not set_path.is_file():
        print(f"ERROR: question set not found: {set_path}")
        return 2
    corpus, skipped = load_corpus(corpus_dir)

    errors: list[str] = []
    warnings: list[str] = [f"loader skipped {s}" for s in skipped]
    items = []
    for n, line in enumerate(set_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as exc:
            errors.append(f"line {n}: invalid JSON ({exc})")

    ids = Counter(q.get("id") for q in items)
    for qid, c in ids.items():
        if c > 1:
            errors.append(f"duplicate id {qid}")
    prefix, min_total, min_answerable, min_unanswerable = set_rules(set_path, items)
    expected = [f"{prefix}-{i:03d}" for i in range(1, len(items) + 1)]
    if [q.get("id") for q in items] != expected:
        errors.append(f"ids are not {prefix}-001.. in file order without gaps")

    seed_answerable = 0
    for q in items:
        qid = q.get("id", "?")
        for key, typ in REQUIRED.items():
            if key not in q:
                errors.append(f"{qid}: missing field {key!r}")
            elif not isinstance(q[key], typ):
                errors.append(f"{qid}: field {key!r} should be {typ.__name__}")
        for key in set(q) - set(REQUIRED):
            if key not in OPTIONAL:
                errors.append(f"{qid}: unexpected field {key!r}")
            elif not isinstance(q[key], OPTIONAL[key]):
                errors.append(f"{qid}: field {key!r} should be {OPTIONAL[key].__name__}")
        if any(k not in q or not isinstance(q[k], t) for k, t in REQUIRED.items()):
            continue
        if q["type"] not in TYPES:
            errors.append(f"{qid}: bad type {q['type']!r}")
        if not all(isinstance(a, str) and a.strip() for a in q["answers"] + q["keywords"]):
            errors.append(f"{qid}: answers/keywords must be non-empty strings")
            continue

        sources = check_passages(qid, "gold_passages", q["gold_passages"], corpus, errors, warnings)
        if "near_miss" in q:
            check_passages(qid, "near_miss", q["near_miss"], corpus, errors, warnings)

        if q["answerable"]:
            if q["type"] == "unanswerable":
                errors.append(f"{qid}: answerable question typed 'unanswerable'")
            if not q["answers"] or not q["keywords"] or not q["gold_passages"]:
                errors.append(f"{qid}: answerable needs answers, keywords and gold_passages")
            if q["type"] == "cross-document" and len(sources) < 2:
                errors.append(f"{qid}: cross-document needs gold passages from 2+ sources")
            if q["type"] == "synthesis" and len(q["gold_passages"]) < 2:
                errors.append(f"{qid}: synthesis needs 2+ gold passages")
            if SEED in sources:
                seed_answerable += 1
            # Whitespace (line wraps, non-breaking spaces) is normalised so that a
            # keyword such as "500 million" matches "$500\nmillion".
            source_text = norm(" ".join(corpus[s] for s in sources))
            answers_text = norm(" | ".join(q["answers"]))
            for kw in q["keywords"]:
                if norm(kw) not in source_text:
                    errors.append(f"{qid}: keyword {kw!r} not in any gold source file")
                if norm(kw) not in answers_text:
                    errors.append(f"{qid}: keyword {kw!r} not in any gold answer")
        else:
            if q["type"] != "unanswerable":
                errors.append(f"{qid}: unanswerable question must have type 'unanswerable'")
            if q["answers"] or q["keywords"] or q["gold_passages"]:
                errors.append(f"{qid}: unanswerable must have empty answers/keywords/gold_passages")

    if set_path.name == "osa.jsonl" and items and items[0].get("question") != FIRST_QUESTION:
        errors.append(f"osa-001 question must be exactly {FIRST_QUESTION!r}")

    types = Counter(q.get("type") for q in items)
    n_ans = sum(1 for q in items if q.get("answerable") is True)
    n_unans = len(items) - n_ans
    if len(items) < min_total:
        errors.append(f"only {len(items)} questions (< {min_total})")
    if n_ans < min_answerable:
        errors.append(f"only {n_ans} answerable (< {min_answerable})")
    if n_unans < min_unanswerable:
        errors.append(f"only {n_unans} unanswerable (< {min_unanswerable})")

    print(f"set: {set_path}")
    print(f"corpus: {corpus_dir} ({len(corpus)} files, text as rag.loaders loads it)")
    print(
        f"questions: {len(items)}  answerable: {n_ans}  unanswerable: {n_unans}  "
        f"answerable citing the seed article: {seed_answerable}"
    )
    for t in sorted(TYPES):
        print(f"  {t:15s} {types.get(t, 0)}")
    for w in warnings:
        print(f"WARNING: {w}")
    for e in errors:
        print(f"ERROR: {e}")
    print("OK" if not errors else f"FAILED: {len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
