"""evals/sets/check_osa_set.py: both bundled OSA sets pass; front-matter quotes are rejected."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETS = REPO / "evals" / "sets"
CORPUS = REPO / "corpus"


def _checker():
    spec = importlib.util.spec_from_file_location("check_osa_set", SETS / "check_osa_set.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = _checker()


def test_osa_set_passes(capsys):
    assert check.main([str(CORPUS), "--set", str(SETS / "osa.jsonl")]) == 0, capsys.readouterr().out


def test_osa_heldout_set_passes(capsys):
    path = SETS / "osa_heldout.jsonl"
    if not path.exists():
        pytest.skip("evals/sets/osa_heldout.jsonl is not written yet")
    assert check.main([str(CORPUS), "--set", str(path)]) == 0, capsys.readouterr().out


def _question(qid: str, quote: str, **extra) -> dict:
    return {
        "id": qid,
        "question": "Which countries are the first recipients of Japan's OSA?",
        "answerable": True,
        "answers": ["Malaysia and Fiji"],
        "keywords": ["Fiji"],
        "gold_passages": [{"source": "doc.md", "quote": quote}],
        "type": "single-fact",
        **extra,
    }


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "doc.md").write_text(
        "---\ntitle: Secret front matter title about Fiji\n"
        "published_time: 2022-12-16 05:01:00-05:00\n---\n"
        "The first recipients are Malaysia and\nFiji, said the statement today.\n",
        encoding="utf-8",
    )
    return corpus


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_front_matter_quote_is_rejected(tmp_path, tiny_corpus, capsys):
    rows = [
        _question("osa-001", "The first recipients are Malaysia and Fiji"),  # across a wrap: ok
        _question("osa-002", "published_time: 2022-12-16 05:01:00-05:00"),  # front matter only
        _question("osa-003", "Secret front matter title about Fiji"),  # the title only
    ]
    path = _write(tmp_path / "osa.jsonl", rows)
    assert check.main([str(tiny_corpus), "--set", str(path)]) == 1
    out = capsys.readouterr().out
    errors = [line for line in out.splitlines() if line.startswith("ERROR")]
    assert any(
        line.startswith("ERROR: osa-002 gold_passages[0]: quote not found") for line in errors
    )
    assert any(
        line.startswith("ERROR: osa-003 gold_passages[0]: quote not found") for line in errors
    )
    assert not any("osa-001" in line for line in errors)
    assert "only 3 questions (< 64)" in out  # osa.jsonl minimums


def test_heldout_rules_prefix_and_minimums(tmp_path, tiny_corpus, capsys):
    quote = "The first recipients are Malaysia and Fiji"
    rows = [_question("ho-001", quote), _question("ho-002", quote, question="Another one?")]
    path = _write(tmp_path / "osa_heldout.jsonl", rows)
    assert check.main([str(tiny_corpus), "--set", str(path)]) == 1
    out = capsys.readouterr().out
    assert "ids are not" not in out  # ho-001.. is the held-out prefix
    assert "osa-001 question must be" not in out  # the first-question rule is osa.jsonl's
    assert "only 2 questions (< 70)" in out
    assert "only 2 answerable (< 46)" in out
    assert "only 0 unanswerable (< 24)" in out

    rows = [_question("osa-001", quote), _question("osa-002", quote)]
    path = _write(tmp_path / "osa_heldout.jsonl", rows)
    check.main([str(tiny_corpus), "--set", str(path)])
    assert "ids are not ho-001.. in file order" in capsys.readouterr().out
