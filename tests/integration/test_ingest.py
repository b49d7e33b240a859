"""Ingestion into a real index (real embedder, tiny corpora written per test)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from testkit import write_corpus

from rag.config import Settings
from rag.index_writer import IndexWriter, index_lock
from rag.ingest import IngestReport, SettingsChanged, ingest
from rag.loaders import LOADER_VERSION
from rag.store import IndexStore, IndexStoreError

DOCS = {
    "alpha.txt": "Alpha Centauri is the closest star system to the Sun. It has three stars.",
    "bravo.md": "---\ntitle: Bravo Beans\n---\n\nBroad beans grow well in cool spring weather.",
    "charlie.html": "<html><head><title>Charlie</title></head><body>"
    "<p>Chess openings such as the Sicilian Defence start the game.</p></body></html>",
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "docs", DOCS)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(index_dir=tmp_path / "index", chunk_size=300, chunk_overlap=50)


@pytest.fixture
def run(embedder):
    def _run(paths, settings: Settings, **kwargs) -> IngestReport:
        return ingest(paths, settings, embedder=embedder, progress=False, **kwargs)

    return _run


def versions(settings: Settings) -> list[str]:
    return sorted(p.name for p in (settings.index_dir / "builds").iterdir())


def texts(settings: Settings) -> dict[str, str]:
    store = IndexStore.load(settings.index_dir)
    try:
        return {Path(c.source).name: c.text for c in store.iter_chunks()}
    finally:
        store.close()


def top_source(settings: Settings, embedder, query: str) -> str:
    store = IndexStore.load(settings.index_dir)
    try:
        return Path(store.search(embedder.encode_query(query), 1)[0][0].source).name
    finally:
        store.close()


def test_build_creates_index_with_manifest(corpus, settings, run):
    report = run([corpus], settings)
    assert sorted(Path(s).name for s in report.added) == sorted(DOCS)
    assert report.changed and report.skipped == [] and report.chunks_added == 3
    assert report.total_chunks == 3

    current = settings.index_dir / "current"
    assert current.is_symlink() and current.resolve().parent.name == "builds"
    store = IndexStore.load(settings.index_dir)
    try:
        m = store.manifest
        assert m.embedder == "all-MiniLM-L6-v2" and m.dim == 384
        assert m.chunking == {"chunk_size": 300, "chunk_overlap": 50, "embed_title": True}
        assert len(m.documents) == 3
        for info in m.documents.values():
            path = corpus / Path(info.source).name
            assert (
                info.content_hash
                == hashlib.sha256(path.read_bytes()).hexdigest() + f"-l{LOADER_VERSION}"
            )
            assert info.chunks == 1
        titles = {Path(i.source).name: i.title for i in m.documents.values()}
        assert titles["bravo.md"] == "Bravo Beans" and titles["charlie.html"] == "Charlie"
        assert store.check_consistency() == []
        assert len(store) == 3
    finally:
        store.close()


def test_reingest_unchanged_does_nothing(corpus, settings, run):
    run([corpus], settings)
    before = versions(settings)
    link = os.readlink(settings.index_dir / "current")
    report = run([corpus], settings)
    assert not report.changed
    assert len(report.unchanged) == 3 and report.chunks_added == 0
    assert report.total_chunks == 3
    assert versions(settings) == before
    assert os.readlink(settings.index_dir / "current") == link


def test_changed_document_is_replaced(corpus, settings, run, embedder):
    run([corpus], settings)
    (corpus / "alpha.txt").write_text("Apple orchards in Aomori produce crisp autumn apples.")
    report = run([corpus], settings)
    assert [Path(s).name for s in report.updated] == ["alpha.txt"]
    assert report.chunks_removed == 1 and report.chunks_added == 1
    assert "Centauri" not in " ".join(texts(settings).values())
    assert "Aomori" in texts(settings)["alpha.txt"]
    assert top_source(settings, embedder, "Where are apples grown?") == "alpha.txt"
    store = IndexStore.load(settings.index_dir)
    try:
        assert store.check_consistency() == []
    finally:
        store.close()


def test_prune_removes_deleted_files(corpus, settings, run, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # sources are stored relative to the working directory
    run([Path("docs")], settings)
    (corpus / "bravo.md").unlink()
    kept = run([Path("docs")], settings)
    assert kept.removed == [] and "bravo.md" in texts(settings)
    pruned = run([Path("docs")], settings, prune=True)
    assert pruned.removed == ["docs/bravo.md"]
    assert set(texts(settings)) == {"alpha.txt", "charlie.html"}
    assert pruned.total_chunks == 2


def test_duplicate_content_is_indexed_once(corpus, settings, run):
    shutil.copy(corpus / "alpha.txt", corpus / "alpha-copy.txt")
    report = run([corpus], settings)
    assert len(report.added) == 3
    (dup,) = report.skipped
    assert Path(dup.path).name in {"alpha.txt", "alpha-copy.txt"}
    assert dup.reason.startswith("duplicate of ") and "indexed once" in dup.reason
    assert report.total_chunks == 3


def test_same_file_given_twice_is_indexed_once(corpus, settings, run):
    report = run([corpus, corpus / "alpha.txt"], settings)
    assert len(report.added) == 3 and report.total_chunks == 3


def test_renamed_file_with_prune_keeps_its_content(corpus, settings, run):
    run([corpus], settings)
    (corpus / "alpha.txt").rename(corpus / "alpha-renamed.txt")
    report = run([corpus], settings, prune=True)
    assert [Path(s).name for s in report.removed] == ["alpha.txt"]
    assert [Path(s).name for s in report.added] == ["alpha-renamed.txt"]
    assert "Centauri" in texts(settings)["alpha-renamed.txt"]


def test_copy_then_edit_keeps_the_old_content(corpus, settings, run):
    run([corpus], settings)
    shutil.copy(corpus / "alpha.txt", corpus / "alpha-backup.txt")
    (corpus / "alpha.txt").write_text("Apple orchards in Aomori produce crisp autumn apples.")
    run([corpus], settings)
    indexed = texts(settings)
    assert "Centauri" in indexed["alpha-backup.txt"]
    assert "Aomori" in indexed["alpha.txt"]


def test_skipped_files_are_reported_and_the_rest_indexed(corpus, settings, run):
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "broken.pdf").write_bytes(b"not a pdf at all")
    seen = []
    report = run([corpus], settings, on_skip=seen.append)
    assert len(report.added) == 3
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons["empty.txt"] == "empty file"
    assert reasons["broken.pdf"].startswith("corrupt or unreadable PDF")
    assert seen == report.skipped


def test_changed_settings_require_rebuild(corpus, settings, run):
    run([corpus], settings)
    with pytest.raises(SettingsChanged, match="--rebuild") as err:
        run([corpus], settings.replace(chunk_size=500))
    assert "chunk_size" in str(err.value)
    with pytest.raises(SettingsChanged, match="--rebuild") as err:
        run([corpus], settings.replace(chunk_overlap=10))
    with pytest.raises(SettingsChanged, match="--rebuild") as err:
        run([corpus], settings.replace(embedder="some-other-embedder"))
    assert "embedder" in str(err.value)
    assert isinstance(err.value, IndexStoreError)  # the CLI catches this family

    report = run([corpus], settings.replace(chunk_size=500), rebuild=True)
    assert len(report.added) == 3
    store = IndexStore.load(settings.index_dir)
    try:
        assert store.manifest.chunking["chunk_size"] == 500
        assert store.check_consistency() == []
    finally:
        store.close()
    assert len(versions(settings)) == 1


def _state(settings: Settings):
    store = IndexStore.load(settings.index_dir)
    try:
        return str(store.version_dir), sorted(c.chunk_id for c in store.iter_chunks())
    finally:
        store.close()


@pytest.mark.parametrize("where", ["embedding", "commit"])
def test_crash_leaves_previous_index_intact(corpus, settings, run, embedder, monkeypatch, where):
    run([corpus], settings)
    before = _state(settings)
    (corpus / "alpha.txt").write_text("A change that will never be committed.")
    (corpus / "delta.txt").write_text("A new file that will never be committed.")

    def boom(*args, **kwargs):
        raise RuntimeError(f"simulated crash during {where}")

    if where == "embedding":
        monkeypatch.setattr(embedder, "encode", boom)
    else:
        monkeypatch.setattr(IndexWriter, "commit", boom)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run([corpus], settings)
    monkeypatch.undo()

    assert _state(settings) == before
    assert not [v for v in versions(settings) if v.startswith(".draft")]
    # The lock was released: the same ingest now succeeds.
    report = run([corpus], settings)
    assert len(report.updated) == 1 and len(report.added) == 1


def test_second_ingest_fails_while_the_lock_is_held(corpus, settings, run):
    run([corpus], settings)
    with index_lock(settings.index_dir):
        with pytest.raises(IndexStoreError, match="another ingest is writing"):
            run([corpus], settings)
    assert not run([corpus], settings).changed


def test_empty_corpus_builds_an_empty_index(tmp_path, settings, run, embedder):
    empty = tmp_path / "nothing"
    empty.mkdir()
    report = run([empty], settings)
    assert report.total_chunks == 0
    store = IndexStore.load(settings.index_dir)
    try:
        assert len(store) == 0
        assert store.search(embedder.encode_query("anything"), 3) == []
    finally:
        store.close()
