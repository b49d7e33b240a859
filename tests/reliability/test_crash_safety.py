"""Crash safety: `rag ingest` killed with SIGKILL at random points, and concurrent ingests.

Each run of the kill loop changes the corpus (edit, add or delete a file; every
fifth run rebuilds), starts `rag ingest --prune` as a subprocess and kills it
with SIGKILL either after a random delay or just after it starts writing a new
index version (a draft appears). After every kill the index must load, pass
`IndexStore.check_consistency()` (FAISS ids = docstore ids = BM25 ids =
manifest counts) and hold no duplicate chunk or document. A last run without a
kill must complete and leave exactly the chunks the corpus produces, no drafts
and one version.

CI runs 6 kill runs; `RAG_STRESS=full` runs 30 (or set `RAG_KILL_RUNS`).
"""

from __future__ import annotations

import importlib
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from rag.chunking import chunk_document
from rag.config import Settings
from rag.index_writer import index_lock
from rag.ingest import ingest
from rag.loaders import Skipped, iter_documents
from rag.store import IndexStoreError

from .relhelpers import clean_env, index_state, rag_command, record_figures, stress_count

KILL_RUNS = stress_count("RAG_KILL_RUNS", ci=6, full=30)
TOPICS = [
    ("albatross", "The Albatross radar station on Tern Island opened in 1994."),
    ("bittern", "Bittern harbour handles 40 container ships every month."),
    ("curlew", "The Curlew bridge is 2.3 kilometres long and carries a railway."),
    ("dunlin", "Dunlin airfield has one runway and a small control tower."),
    ("eider", "The Eider power plant burns natural gas and supplies 80,000 homes."),
    ("fulmar", "Fulmar lighthouse keepers logged storms every night in 1911."),
    ("gannet", "Gannet port signed a twinning agreement with a Pacific island."),
    ("heron", "The Heron coast guard base trains 120 cadets each year."),
    ("ibis", "Ibis reservoir holds drinking water for the capital region."),
    ("jacana", "The Jacana research vessel surveys coral reefs in the south."),
]


def write_topic(folder: Path, name: str, sentence: str, revision: int = 0) -> None:
    extra = f" Revision {revision} added a note about maintenance." if revision else ""
    text = f"# {name.title()} facts\n\n{sentence} It is described in the annual report.{extra}\n"
    (folder / f"{name}.md").write_text(text, encoding="utf-8")


def expected_chunk_ids(folder: Path, settings: Settings) -> list[str]:
    ids = []
    for item in iter_documents([folder]):
        assert not isinstance(item, Skipped), item
        ids += [
            c.chunk_id for c in chunk_document(item, settings.chunk_size, settings.chunk_overlap)
        ]
    return sorted(ids)


def start_ingest(work: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    log = work / f"ingest-{time.time_ns()}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*rag_command(), "ingest", "corpus", "--index-dir", "index", "--quiet", *args],
            cwd=work,
            env=clean_env(RAG_N_THREADS="1", OMP_NUM_THREADS="1"),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, log


def drafts(index: Path) -> list[Path]:
    builds = index / "builds"
    return sorted(builds.glob(".draft-*")) if builds.is_dir() else []


def kill_when(proc: subprocess.Popen, index: Path, rng: random.Random, strategy: str, span: float):
    """SIGKILL ``proc`` by ``strategy``; returns (a draft was being written then or None
    if the run finished first, seconds from start until the kill or the first draft)."""
    started = time.monotonic()
    if strategy == "timer":  # anywhere before writing (start-up, loading, embedding)
        deadline = started + rng.uniform(0.2, span)
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
    else:  # "draft": once a new version is being written, within the write (~30 ms idle)
        deadline = started + 300  # or a little later (the swap, old versions removed, exit)
        while not drafts(index) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.04) if rng.random() < 0.6 else rng.uniform(0.04, 0.4))
    elapsed = time.monotonic() - started
    if proc.poll() is not None:
        return None, elapsed
    writing = bool(drafts(index))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return writing, elapsed


@pytest.fixture
def work(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "corpus").mkdir()
    for name, sentence in TOPICS:
        write_topic(tmp_path / "corpus", name, sentence)
    monkeypatch.chdir(tmp_path)  # sources are relative to the working directory, as in the CLI
    return tmp_path


def test_ingest_killed_at_random_points_never_corrupts_the_index(work: Path, embedder):
    index = work / "index"
    corpus = work / "corpus"
    rng = random.Random(20240611)
    ingest([Path("corpus")], Settings(index_dir=Path("index")), embedder=embedder, progress=False)
    assert index_state(index) is not None
    span = 5.0  # replaced by the measured time to the first draft (run 0 waits for it)

    outcomes: dict[str, int] = {}
    revision = 0
    for i in range(KILL_RUNS):
        # Change the corpus so that every run has work to do.
        revision += 1
        name, sentence = TOPICS[i % len(TOPICS)]
        if i % 3 == 0:
            write_topic(corpus, name, sentence, revision)
        elif i % 3 == 1:
            write_topic(corpus, f"extra-{i}", f"Extra site number {i} keeps spare parts.")
        else:
            victims = sorted(corpus.glob("extra-*.md")) or sorted(corpus.glob("*.md"))[:1]
            victims[0].unlink()
        args = ("--prune", "--rebuild") if i % 5 == 4 else ("--prune",)
        strategy = "timer" if i % 2 else "draft"
        before = index_state(index)["version"]
        proc, log = start_ingest(work, *args)
        writing, elapsed = kill_when(proc, index, rng, strategy, span)
        if i == 0 and writing is not None:
            span = elapsed  # start-up to writing: the window the random kills fall in
        state = index_state(index)  # loads + consistency + no duplicates (asserts inside)
        assert state is not None, f"run {i}: the index is gone after a kill"
        if writing is None:
            where = "finished"
            assert proc.returncode == 0, log.read_text()
        elif state["version"] != before:
            where = "after the swap"  # killed while removing old versions or exiting
        else:
            where = "while writing" if writing else "before writing"
        outcomes[where] = outcomes.get(where, 0) + 1

    # A normal run afterwards completes and leaves exactly what the corpus produces.
    proc, log = start_ingest(work, "--prune")
    assert proc.wait(timeout=300) == 0, log.read_text()
    state = index_state(index)
    settings = Settings(index_dir=index)
    assert state["chunk_ids"] == expected_chunk_ids(Path("corpus"), settings)
    assert [Path(s).name for s in state["sources"]] == sorted(p.name for p in corpus.glob("*.md"))
    assert drafts(index) == [], "a killed writer's draft was left behind"
    assert [p.name for p in (index / "builds").iterdir()] == [state["version"]]
    assert not list(index.glob(".current-*"))

    record_figures(
        "kill-loop",
        {
            "runs": KILL_RUNS,
            "sigkills": KILL_RUNS - outcomes.get("finished", 0),
            "killed_before_writing": outcomes.get("before writing", 0),
            "killed_while_writing_a_version": outcomes.get("while writing", 0),
            "killed_after_the_swap": outcomes.get("after the swap", 0),
            "finished_before_the_kill": outcomes.get("finished", 0),
            "consistency_checks_passed": KILL_RUNS + 2,
            "seconds_to_first_write": round(span, 1),
        },
    )


def test_ingest_refuses_clearly_while_another_holds_the_lock(work: Path, embedder, monkeypatch):
    from typer.testing import CliRunner

    from rag_app.cli import app

    ingest([Path("corpus")], Settings(index_dir=Path("index")), embedder=embedder, progress=False)
    before = index_state(work / "index")
    write_topic(work / "corpus", "kestrel", "Kestrel hangar stores 12 gliders.")
    monkeypatch.setattr(importlib.import_module("rag.ingest"), "Embedder", lambda *a, **k: embedder)
    with index_lock(work / "index"):  # (flock: a second open file in this process conflicts too)
        result = CliRunner().invoke(app, ["ingest", "corpus", "--index-dir", "index", "-q"])
    assert result.exit_code == 1
    assert "another ingest is writing" in " ".join(result.output.split())
    assert index_state(work / "index") == before  # untouched


def test_two_ingests_at_once_one_waits_or_fails_clearly(work: Path):
    outcomes = []
    for round_ in range(stress_count("RAG_RACE_ROUNDS", ci=1, full=5)):
        write_topic(work / "corpus", f"round-{round_}", f"Round {round_} added a depot.")
        procs = [start_ingest(work), start_ingest(work)]
        results = []
        for proc, log in procs:
            code = proc.wait(timeout=300)
            text = log.read_text()
            assert "Traceback" not in text, text
            if code != 0:
                assert code == 1 and "another ingest is writing" in text, text
            results.append(code)
        assert 0 in results, "at least one of the two ingests must succeed"
        outcomes.append(sorted(results))
        state = index_state(work / "index")
        assert f"corpus/round-{round_}.md" in state["sources"]
    record_figures(
        "concurrent-ingest",
        {
            "rounds": len(outcomes),
            "exit_codes": outcomes,
            "refused_by_lock": sum(o.count(1) for o in outcomes),
        },
    )


def test_a_waiting_ingest_proceeds_after_the_lock_is_released(work: Path, embedder):
    settings = Settings(index_dir=work / "index")
    holding = threading.Event()

    def hold() -> None:
        with index_lock(settings.index_dir):
            holding.set()
            time.sleep(1.5)

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait(10)
    with pytest.raises(IndexStoreError, match="another ingest is writing"):
        ingest([work / "corpus"], settings, embedder=embedder, progress=False)
    started = time.monotonic()
    report = ingest(
        [work / "corpus"], settings, embedder=embedder, progress=False, lock_wait_seconds=30
    )
    thread.join()
    assert time.monotonic() - started >= 0.5 and len(report.added) == len(TOPICS)
    assert index_state(settings.index_dir) is not None
