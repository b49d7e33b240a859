"""Question-set loading, gold-passage matching, sampling and the external-set builders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.sets import (
    EvalSetError,
    Gold,
    in_split,
    load_jsonl_set,
    load_set,
    normalize_passage_text,
    parse_gold,
    sample,
    shared_dir,
    write_passages,
)

REPO = Path(__file__).resolve().parents[2]


def _write_set(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_gold_quote_ignores_wrapping_case_and_curly_quotes():
    gold = Gold("g0", source="a.txt", quote="this fiscal year’s 2 billion\n  yen")
    assert gold.matches("... This fiscal year's 2 billion yen OSA budget", "corpus/a.txt")
    assert not gold.matches("... this fiscal year's 2 billion yen", "corpus/b.txt")  # other file
    assert not gold.matches("2 billion yen", "corpus/a.txt")  # only part of the quote


def test_gold_by_id_matches_file_name_or_stem():
    gold = Gold("g0", doc_id="squad-00-001")
    assert gold.matches("any text", ".rag/eval-corpus/squad2-dev/squad-00-001.txt")
    assert not gold.matches("any text", ".rag/eval-corpus/squad2-dev/squad-00-002.txt")


def test_parse_gold_forms():
    golds = parse_gold(
        ["doc1", "doc1.txt", "some quoted text", {"source": "doc1.txt", "quote": "q"}, {"id": 7}],
        corpus_names={"doc1", "doc1.txt"},
    )
    assert [g.doc_id for g in golds[:2]] == ["doc1", "doc1"]
    assert golds[2].quote == "some quoted text" and golds[2].source is None
    assert golds[3].source == "doc1.txt" and golds[3].quote == "q"
    assert golds[4].doc_id == "7"
    assert [g.label for g in golds] == ["g0", "g1", "g2", "g3", "g4"]
    with pytest.raises(EvalSetError):
        parse_gold([{"nothing": 1}], set())


def test_load_jsonl_set_with_own_corpus(tmp_path: Path):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Alpha text.", encoding="utf-8")
    path = _write_set(
        tmp_path / "set.jsonl",
        [
            {
                "id": "1",
                "question": "Q1?",
                "answers": ["Alpha"],
                "gold_passages": ["a"],
                "corpus": "docs",
            },
            {"id": "2", "question": "Q2?", "answerable": False, "corpus": "docs"},
        ],
    )
    evalset = load_jsonl_set(path)
    assert evalset.corpus_dir == corpus
    assert [q.answerable for q in evalset.questions] == [True, False]
    assert evalset.questions[0].gold[0].doc_id == "a"
    assert evalset.questions[1].type == "unanswerable"


def test_load_jsonl_set_errors(tmp_path: Path):
    dup = _write_set(
        tmp_path / "dup.jsonl", [{"id": "1", "question": "a"}, {"id": "1", "question": "b"}]
    )
    with pytest.raises(EvalSetError, match="duplicate"):
        load_jsonl_set(dup, corpus=tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(EvalSetError, match="bad.jsonl:1"):
        load_jsonl_set(bad, corpus=tmp_path)
    with pytest.raises(EvalSetError, match="unknown question set"):
        load_set("no-such-set")


def test_sample_is_fixed_by_seed_and_keeps_order():
    items = list(range(100))
    a, b = sample(items, 10, seed=1), sample(items, 10, seed=1)
    assert a == b and a == sorted(a) and len(a) == 10
    assert sample(items, 10, seed=2) != a
    assert sample(items, None, 0) == items and sample(items, 500, 0) == items


def test_osa_set_loads_over_bundled_corpus():
    evalset = load_set("osa")
    assert evalset.corpus_dir == REPO / "corpus"
    assert evalset.answerable and evalset.unanswerable
    limited = load_set("osa", limit=5, seed=3)
    assert len(limited.questions) == 5 and limited.total == len(evalset.questions)


@pytest.mark.parametrize(
    ("name", "filename"),
    [
        ("osa-heldout", "osa_heldout.jsonl"),
        ("osa-heldout2", "osa_heldout2.jsonl"),
        ("osa-heldout3", "osa_heldout3.jsonl"),
        ("osa-heldout4", "osa_heldout4.jsonl"),
        ("osa-heldout5", "osa_heldout5.jsonl"),
        ("osa-heldout6", "osa_heldout6.jsonl"),
        ("osa-heldout7", "osa_heldout7.jsonl"),
        ("osa-heldout8", "osa_heldout8.jsonl"),
        ("osa-heldout9", "osa_heldout9.jsonl"),
    ],
)
def test_heldout_sets_load_by_name_over_bundled_corpus(name: str, filename: str):
    """Each frozen held-out set is served by its registered name, whole, with gold quotes."""
    evalset = load_set(name)
    rows = (REPO / "evals" / "sets" / filename).read_text(encoding="utf-8").splitlines()
    assert evalset.name == name and evalset.corpus_dir == REPO / "corpus"
    assert len(evalset.questions) == len([r for r in rows if r.strip()])
    assert evalset.unanswerable and all(q.gold for q in evalset.answerable)


def test_write_passages_rewrites_only_changes(tmp_path: Path):
    target = write_passages(
        tmp_path / "c", {"p1": ("Title: one", "Text one."), "p2": ("T", "Two.")}
    )
    first = (target / "p1.txt").stat().st_mtime_ns
    write_passages(target, {"p1": ("Title: one", "Text one.")})
    assert (target / "p1.txt").stat().st_mtime_ns == first
    assert not (target / "p2.txt").exists()  # stale passage removed
    from rag.loaders import load_document

    doc = load_document(target / "p1.txt")
    assert doc.title == "Title: one" and doc.text == "Text one."


def test_shared_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    assert shared_dir(tmp_path) == tmp_path
    monkeypatch.setenv("RAG_SHARED_DIR", str(tmp_path / "x"))
    assert shared_dir() == tmp_path / "x"
    monkeypatch.delenv("RAG_SHARED_DIR")
    assert shared_dir() == (REPO / ".." / "shared").resolve()


def test_missing_shared_data_says_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAG_EVAL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(EvalSetError, match="--data-dir"):
        load_set("squad2-dev", data_dir=tmp_path / "nowhere")


def test_external_sets_build_corpora(
    shared_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("RAG_EVAL_CACHE", str(tmp_path / "cache"))
    squad = load_set("squad2-dev", limit=40, seed=0, data_dir=shared_dir)
    assert len(squad.questions) == 40 and squad.total == 6078
    assert len(list(squad.corpus_dir.glob("*.txt"))) == 646
    names = {p.stem for p in squad.corpus_dir.glob("*.txt")}
    for q in squad.questions:
        assert q.answerable == bool(q.gold) == bool(q.answers)
        assert all(g.doc_id in names for g in q.gold)

    clap = load_set("clapnq-dev", data_dir=shared_dir)
    assert len(clap.questions) == 300 and clap.total == 600
    names = {p.stem for p in clap.corpus_dir.glob("*.txt")}
    assert len(names) >= 293
    assert all(g.doc_id in names for q in clap.questions for g in q.gold)
    assert {q.answerable for q in clap.questions} == {True, False}


def test_normalize_passage_text():
    assert normalize_passage_text("A\u00a0 B\n\nC’s") == "a b c's"


def test_dev_and_test_splits_partition_a_set():
    full = load_set("osa")
    dev, test = load_set("osa", split="dev"), load_set("osa", split="test")
    ids = [q.id for q in full.questions]
    assert sorted(q.id for q in dev.questions + test.questions) == sorted(ids)
    assert not {q.id for q in dev.questions} & {q.id for q in test.questions}
    assert 0.3 < len(dev.questions) / len(ids) < 0.7
    assert dev.split == "dev" and "dev split" in dev.description
    assert in_split("osa-001", "dev") != in_split("osa-001", "test")
    with pytest.raises(EvalSetError, match="--split"):
        load_set("osa", split="train")


def test_registry_names_every_set():
    from evals.sets import loaders

    assert set(loaders()) == {
        "osa", "osa-heldout", "osa-heldout2", "osa-heldout3", "osa-heldout4", "osa-heldout5",
        "osa-heldout6", "osa-heldout7", "osa-heldout8", "osa-heldout9", "osa-followups",
        "squad2-dev", "squad2-calibration", "clapnq-dev",
    }  # fmt: skip
    assert loaders()["squad2-dev"].default_limit == 300
    assert loaders()["osa"].default_limit is None


def test_a_new_set_is_one_module_in_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Dropping a module into evals/sets/formats/ is all it takes to add a named set."""
    import sys

    from evals.sets import formats, registry

    (tmp_path / "tiny_format.py").write_text(
        "from evals.sets.model import EvalSet, Question\n"
        "from evals.sets.registry import register\n\n"
        "@register('tiny-test', default_limit=2)\n"
        "def load(source):\n"
        "    questions = [Question(str(i), f'Q{i}?', True) for i in range(5)]\n"
        "    return EvalSet('tiny-test', questions, source.corpus, description='tiny')\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(formats, "__path__", [*formats.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "_LOADERS", dict(registry._LOADERS))
    monkeypatch.delitem(sys.modules, "evals.sets.formats.tiny_format", raising=False)
    evalset = load_set("tiny-test", corpus=tmp_path)
    assert evalset.name == "tiny-test" and evalset.corpus_dir == tmp_path
    assert len(evalset.questions) == 2 and evalset.total == 5  # its own default limit
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("tiny-test")(lambda source: None)
    sys.modules.pop("evals.sets.formats.tiny_format", None)
