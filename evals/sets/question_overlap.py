"""List the closest question pairs between a new question set and the existing ones.

A new held-out set must not repeat or closely paraphrase a question of any other
set: a near-duplicate would let tuning on the old set leak into the new one. Each
question becomes its set of content words (lower-cased, scikit-learn's English stop
words removed); two questions are compared by the Jaccard overlap of those sets.

Usage:
    python evals/sets/question_overlap.py --set evals/sets/osa_heldout3.jsonl
        [--against OTHER.jsonl ...] [--threshold 0.5] [--top 15]

``--against`` defaults to every other ``*.jsonl`` file beside this script (for
osa_heldout3.jsonl: osa, osa_heldout, osa_heldout2 and osa_followups). The
closest pairs (also within the new set) are printed; the exit status is 1 if any
pair reaches the threshold.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

HERE = Path(__file__).resolve().parent
WORD = re.compile(r"[a-z0-9]+(?:[.-][a-z0-9]+)*")  # keeps "u.s.-japan", "3.3", "non-traditional"
POSSESSIVE = re.compile(r"['’]s\b")


@dataclass(frozen=True)
class SetQuestion:
    set_name: str
    id: str
    text: str
    words: frozenset[str]


@dataclass(frozen=True)
class Pair:
    score: float
    new: SetQuestion
    other: SetQuestion


def content_words(text: str) -> frozenset[str]:
    """Lower-cased words of ``text`` without possessive 's and English stop words."""
    words = WORD.findall(POSSESSIVE.sub("", text.lower()))
    return frozenset(w for w in words if w not in ENGLISH_STOP_WORDS)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def read_questions(path: Path) -> list[SetQuestion]:
    """Every question of a JSON-lines set (a follow-up's ``standalone`` form too)."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        qid = str(row.get("id", f"line {n}"))
        for text in (row.get("question"), row.get("standalone")):
            if text:
                out.append(SetQuestion(path.name, qid, text, content_words(text)))
    return out


def closest_pairs(new: list[SetQuestion], others: list[SetQuestion]) -> list[Pair]:
    """Each pair of a new question with another question (of the other sets or of the
    new set itself), closest first."""
    pairs = [Pair(jaccard(a.words, b.words), a, b) for a in new for b in others]
    pairs += [Pair(jaccard(a.words, b.words), a, b) for a, b in itertools.combinations(new, 2)]
    return sorted(pairs, key=lambda p: -p.score)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--set", dest="set_path", required=True, type=Path)
    ap.add_argument("--against", nargs="*", type=Path, default=None)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args(argv)

    if not args.set_path.is_file():
        print(f"ERROR: question set not found: {args.set_path}")
        return 2
    against = args.against
    if against is None:
        against = sorted(p for p in HERE.glob("*.jsonl") if p.resolve() != args.set_path.resolve())
    missing = [str(p) for p in against if not p.is_file()]
    if missing:
        print(f"ERROR: question set(s) not found: {', '.join(missing)}")
        return 2

    new = read_questions(args.set_path)
    others = [q for path in against for q in read_questions(path)]
    pairs = closest_pairs(new, others)
    print(
        f"{len(new)} questions of {args.set_path.name} against {len(others)} of "
        f"{', '.join(p.name for p in against)} (Jaccard of content words)"
    )
    for pair in pairs[: args.top]:
        print(f"{pair.score:.2f}  {pair.new.id}: {pair.new.text}")
        print(f"      {pair.other.id} ({pair.other.set_name}): {pair.other.text}")
    too_close = [p for p in pairs if p.score >= args.threshold]
    for pair in too_close:
        print(f"ERROR: {pair.new.id} and {pair.other.id} overlap {pair.score:.2f}")
    print("OK" if not too_close else f"FAILED: {len(too_close)} pair(s) >= {args.threshold}")
    return 1 if too_close else 0


if __name__ == "__main__":
    # piped into `head`: stop quietly when the reader goes away (not a traceback)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
