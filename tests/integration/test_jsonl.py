"""JSON Lines collections (`.jsonl`, `.jsonl.gz`): one document per line, ingested per line."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import pytest

from rag.config import Settings
from rag.ingest import ingest
from rag.jsonl import iter_jsonl_documents, source_file
from rag.loaders import LOADER_VERSION, Skipped, iter_documents
from rag.store import IndexStore

ROWS = [
    {"id": "a/osa", "title": "Japan  OSA", "date": "2023-04-05", "text": "Japan created OSA."},
    {"id": "b/yen", "title": "Yen", "text": "The yen fell.\r\n\r\nImporters pay more."},
    {"text": "A line without id or title is still a document."},
]


def write_jsonl(path: Path, rows: list, extra_lines: tuple[str, ...] = ()) -> Path:
    lines = [json.dumps(r) if not isinstance(r, str) else r for r in rows] + list(extra_lines)
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def split(items):
    docs = [i for i in items if not isinstance(i, Skipped)]
    skips = {i.path: i.reason for i in items if isinstance(i, Skipped)}
    return docs, skips


def test_one_document_per_line_with_member_sources(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_jsonl(tmp_path / "c" / "briefings.jsonl.gz", ROWS)
    docs, skips = split(list(iter_documents([tmp_path / "c"])))
    assert skips == {}
    assert [d.source for d in docs] == [
        "c/briefings.jsonl.gz#a/osa",
        "c/briefings.jsonl.gz#b/yen",
        "c/briefings.jsonl.gz#line-3",
    ]
    # titles: whitespace squeezed, the date in words (as MANIFEST.tsv titles get it)
    assert [d.title for d in docs] == ["Japan OSA (5 April 2023)", "Yen", "line-3"]
    assert docs[1].text == "The yen fell.\n\nImporters pay more."
    line = json.dumps(ROWS[0]).encode()
    import hashlib

    assert docs[0].content_hash == f"{hashlib.sha256(line).hexdigest()}-l{LOADER_VERSION}"
    assert source_file(docs[0].source) == path.relative_to(tmp_path)
    assert source_file("notes/a#b.txt") == Path("notes/a#b.txt")  # '#' in a plain file name


def test_bad_lines_are_skipped_with_their_line_number(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = [ROWS[0], "{not json", "[1, 2]", {"id": "x", "text": "  "}, ROWS[0], "", ROWS[1]]
    write_jsonl(tmp_path / "bad.jsonl", rows, extra_lines=(json.dumps({"text": "y" * 500}),))
    docs, skips = split(list(iter_jsonl_documents(tmp_path / "bad.jsonl", max_bytes=400)))
    assert [d.source for d in docs] == ["bad.jsonl#a/osa", "bad.jsonl#b/yen"]
    assert skips["bad.jsonl line 2"].startswith("invalid JSON (")
    assert skips["bad.jsonl line 3"] == "not a JSON object (list)"
    assert skips["bad.jsonl line 4"] == "no text (a 'text' string is required)"
    assert skips["bad.jsonl line 5"] == "duplicate id 'a/osa'"
    assert skips["bad.jsonl line 8"] == "document too large (513 bytes)"
    assert len(skips) == 5  # the blank line 6 is no document and no error


def test_truncated_gzip_keeps_the_lines_before_the_damage(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_jsonl(
        tmp_path / "t.jsonl.gz", [{"id": str(i), "text": f"Doc {i}."} for i in range(400)]
    )
    path.write_bytes(path.read_bytes()[:-40])  # cut the end of the stream and the trailer
    docs, skips = split(list(iter_documents([path])))
    assert 0 < len(docs) < 400
    assert skips["t.jsonl.gz"].startswith(f"corrupt or truncated file after line {len(docs)}")
    (tmp_path / "e.jsonl.gz").write_bytes(gzip.compress(b""))
    assert split(list(iter_documents([tmp_path / "e.jsonl.gz"])))[1] == {"e.jsonl.gz": "empty file"}


def _sources(settings: Settings) -> set[str]:
    store = IndexStore.load(settings.index_dir)
    try:
        return {d.source for d in store.documents()}
    finally:
        store.close()


def test_ingest_is_incremental_per_line_and_prunes_lines(tmp_path: Path, monkeypatch, embedder):
    monkeypatch.chdir(tmp_path)
    path = write_jsonl(tmp_path / "c.jsonl.gz", ROWS)
    other = tmp_path / "other.txt"
    other.write_text("A plain file beside the collection.")
    settings = Settings(index_dir=tmp_path / "index")

    def run(paths, **kw):
        return ingest(paths, settings, embedder=embedder, progress=False, **kw)

    assert len(run([path, other]).added) == 3 + 1
    edited = [dict(ROWS[0], text="Japan created OSA in 2023."), ROWS[1]]  # line 3 dropped
    write_jsonl(path, edited)
    report = run([path, other])
    assert report.updated == ["c.jsonl.gz#a/osa"] and report.removed == []
    assert sorted(report.unchanged) == ["c.jsonl.gz#b/yen", "other.txt"]
    report = run([path], prune=True)  # other.txt not given but still there: kept
    assert report.removed == ["c.jsonl.gz#line-3"] and report.changed
    assert _sources(settings) == {"c.jsonl.gz#a/osa", "c.jsonl.gz#b/yen", "other.txt"}
    report = run([other], prune=True)  # the collection not given but still there: kept
    assert not report.changed
    path.unlink()
    assert sorted(run([other], prune=True).removed) == ["c.jsonl.gz#a/osa", "c.jsonl.gz#b/yen"]


def test_white_house_archive_lines(shared_dir: Path):
    path = shared_dir / "corpus" / "scale" / "wh_briefings_all.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    docs = list(itertools.islice(iter_jsonl_documents(path, max_bytes=10**8), 3))
    assert all(not isinstance(d, Skipped) for d in docs)
    first = docs[0]
    assert first.source.endswith(
        "wh_briefings_all.jsonl.gz#statements-releases/2021-01/"
        "2021-01-15-fact-sheet-president-elect-biden-outlines-covid-19-vaccination-plan"
    )
    assert first.title.endswith("Vaccination Plan (15 January 2021)")
    assert first.text.startswith("*Effectively and equitably vaccinating the U.S. population")
    assert "\nthrough stronger" not in first.text  # hard-wrapped lines joined
