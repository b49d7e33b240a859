"""evals/sets/check_osa_set.py: the bundled OSA sets pass and the frozen ones are unchanged;
front-matter quotes are rejected."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
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


@pytest.mark.parametrize(
    "filename",
    [
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
    ],
)
def test_bundled_osa_set_passes(filename, capsys):
    path = SETS / filename
    assert check.main([str(CORPUS), "--set", str(path)]) == 0, capsys.readouterr().out


@pytest.mark.parametrize(
    "filename",
    [
        "osa_heldout.jsonl",
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
def test_frozen_set_matches_its_recorded_sha256(filename):
    """A frozen held-out set is the exact file whose sha256 evals/README.md records."""
    readme = (REPO / "evals" / "README.md").read_text(encoding="utf-8")
    recorded = re.findall(rf"sha256: ([0-9a-f]{{64}})  evals/sets/{re.escape(filename)}", readme)
    actual = hashlib.sha256((SETS / filename).read_bytes()).hexdigest()
    assert recorded == [actual], f"{filename}: sha256 {actual}, README records {recorded}"


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


@pytest.mark.parametrize(
    ("filename", "prefix", "minimums", "wrong_prefix"),
    [
        ("osa_heldout.jsonl", "ho", (70, 46, 24), "osa"),
        ("osa_heldout2.jsonl", "h2", (70, 40, 24), "ho"),
        ("osa_heldout3.jsonl", "h3", (70, 40, 24), "h2"),
        ("osa_heldout4.jsonl", "h4", (60, 40, 20), "h3"),
        ("osa_heldout5.jsonl", "h5", (60, 40, 20), "h4"),
        ("osa_heldout6.jsonl", "h6", (60, 40, 20), "h5"),
        ("osa_heldout7.jsonl", "h7", (60, 40, 20), "h6"),
        ("osa_heldout8.jsonl", "h8", (60, 40, 20), "h7"),
        ("osa_heldout9.jsonl", "h9", (60, 40, 20), "h8"),
    ],
)
def test_heldout_rules_prefix_and_minimums(
    tmp_path, tiny_corpus, capsys, filename, prefix, minimums, wrong_prefix
):
    min_total, min_answerable, min_unanswerable = minimums
    quote = "The first recipients are Malaysia and Fiji"
    rows = [
        _question(f"{prefix}-001", quote),
        _question(f"{prefix}-002", quote, question="Another one?"),
    ]
    path = _write(tmp_path / filename, rows)
    assert check.main([str(tiny_corpus), "--set", str(path)]) == 1
    out = capsys.readouterr().out
    assert "ids are not" not in out  # the set file's own id prefix
    assert "osa-001 question must be" not in out  # the first-question rule is osa.jsonl's
    assert f"only 2 questions (< {min_total})" in out
    assert f"only 2 answerable (< {min_answerable})" in out
    assert f"only 0 unanswerable (< {min_unanswerable})" in out

    rows = [_question(f"{wrong_prefix}-001", quote), _question(f"{wrong_prefix}-002", quote)]
    path = _write(tmp_path / filename, rows)
    check.main([str(tiny_corpus), "--set", str(path)])
    assert f"ids are not {prefix}-001.. in file order" in capsys.readouterr().out
