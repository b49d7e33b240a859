"""evals/sets/question_overlap.py: the fresh held-out sets repeat no question of another set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.sets import question_overlap as overlap

SETS = Path(__file__).resolve().parents[2] / "evals" / "sets"


def _write(path: Path, questions: list[str]) -> Path:
    rows = [{"id": f"q{i}", "question": q} for i, q in enumerate(questions, 1)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


BUNDLED = [
    "osa.jsonl",
    "osa_heldout.jsonl",
    "osa_heldout2.jsonl",
    "osa_heldout3.jsonl",
    "osa_heldout4.jsonl",
    "osa_heldout5.jsonl",
    "osa_heldout6.jsonl",
    "osa_heldout7.jsonl",
    "osa_heldout8.jsonl",
    "osa_heldout9.jsonl",
]


@pytest.mark.parametrize(
    "filename",
    [
        "osa_heldout2.jsonl",
        "osa_heldout3.jsonl",
        "osa_heldout4.jsonl",
        "osa_heldout5.jsonl",
        "osa_heldout6.jsonl",
        "osa_heldout7.jsonl",
        "osa_heldout8.jsonl",
        "osa_heldout9.jsonl",
    ],
)
def test_heldout_set_has_no_near_duplicate_of_any_other_set(filename, capsys):
    code = overlap.main(["--set", str(SETS / filename)])
    out = capsys.readouterr().out
    assert code == 0, out
    # every other bundled set was compared, follow-ups included
    compared = out.splitlines()[0].split(" against ")[1]
    others = [name for name in BUNDLED + ["osa_followups.jsonl"] if name != filename]
    assert all(name in compared for name in others), compared


def test_a_reworded_copy_is_flagged(tmp_path, capsys):
    original = "Which countries are the first recipients of Japan's OSA?"
    old = _write(tmp_path / "old.jsonl", [original])
    reworded = "Which countries were the first recipients of the OSA of Japan?"
    new = _write(tmp_path / "new.jsonl", [reworded, "How tall is Kilimanjaro?"])
    assert overlap.main(["--set", str(new), "--against", str(old)]) == 1
    out = capsys.readouterr().out
    assert "ERROR: q1 and q1 overlap 1.00" in out
    assert "q2" not in out.split("ERROR")[1]  # the unrelated question is not flagged


def test_duplicates_within_the_new_set_are_flagged(tmp_path, capsys):
    old = _write(tmp_path / "old.jsonl", ["What is the chemical symbol for tungsten?"])
    new = _write(tmp_path / "new.jsonl", ["Where is Henoko?", "Where is Henoko located?"])
    assert overlap.main(["--set", str(new), "--against", str(old)]) == 1
    assert "ERROR: q1 and q2 overlap" in capsys.readouterr().out


def test_content_words_drop_stop_words_and_keep_numbers():
    assert overlap.content_words("What is the 2 billion yen OSA budget?") == {
        "2",
        "billion",
        "yen",
        "osa",
        "budget",
    }
