"""Crash safety: `rag ingest` killed with SIGKILL in each of its phases, and concurrent ingests.

Each run of the kill loop changes the corpus (edit, add or delete a file; every
fifth run rebuilds), starts `rag ingest --prune` as a subprocess with
$RAG_INGEST_PHASE_FILE set, waits until the ingest reports the run's target phase
(reading, embedding, writing, swapping, in turn) and SIGKILLs it within that phase;
the kill is counted by the last phase the ingest recorded. After every kill the
index must load, pass `IndexStore.check_consistency()` (FAISS ids = docstore ids =
BM25 ids = manifest counts), hold no duplicate chunk or document, and still be the
previous version unless the kill came after the swap began. Phases that no kill
hit get extra targeted runs (bounded); CI must land a kill while writing, the full
run one in every phase. A last run without a kill must complete and leave exactly
the chunks the corpus produces, no drafts and one version.

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
from testkit import clean_env

from rag.chunking import chunk_document
from rag.config import Settings
from rag.index_writer import index_lock
from rag.ingest import PHASE_FILE_ENV, ingest
from rag.loaders import Skipped, iter_documents
from rag.store import IndexStoreError

from .relhelpers import FULL, index_state, rag_command, record_figures, stress_count

KILL_RUNS = stress_count("RAG_KILL_RUNS", ci=6, full=30)
MAX_EXTRA_RUNS = 12
INGEST_TIMEOUT = 900  # seconds; one ingest took 77 s on 2 cores at a load average of 24
PHASES = ("reading", "embedding", "writing", "swapping")
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


def start_ingest(
    work: Path, *args: str, phases: Path | None = None
) -> tuple[subprocess.Popen, Path]:
    """`rag ingest corpus` in ``work``; its phases are appended to ``phases``."""
    log = work / f"ingest-{time.time_ns()}.log"
    extra = {PHASE_FILE_ENV: str(phases)} if phases else {}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*rag_command(), "ingest", "corpus", "--index-dir", "index", "--quiet", *args],
            cwd=work,
            env=clean_env(RAG_N_THREADS="1", OMP_NUM_THREADS="1", **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, log


def drafts(index: Path) -> list[Path]:
    builds = index / "builds"
    return sorted(builds.glob(".draft-*")) if builds.is_dir() else []


def last_phase(phases: Path) -> str:
    """The last phase an ingest recorded completely ("starting" before the first)."""
    text = phases.read_text(encoding="utf-8") if phases.exists() else ""
    complete = text.split("\n")[:-1]  # a line cut by the kill is not a phase
    return complete[-1] if complete else "starting"


# How long after reaching its target phase a kill waits: within the phase's usual span
# (embedding includes loading the model; writing a version takes about 30 ms).
KILL_DELAY = {"reading": 0.0, "embedding": 1.0, "writing": 0.01, "swapping": 0.0}


def kill_in_phase(proc: subprocess.Popen, phases: Path, target: str, rng: random.Random) -> str:
    """SIGKILL ``proc`` once it reaches ``target`` (or a later phase); returns the phase
    the kill hit, or "finished" when the run ended first."""
    order = [*PHASES, "done"]
    deadline = time.monotonic() + INGEST_TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        now = last_phase(phases)
        if now in order and order.index(now) >= order.index(target):
            break
        time.sleep(0.001)
    time.sleep(rng.uniform(0.0, KILL_DELAY[target]))
    if proc.poll() is not None:
        return "finished"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return last_phase(phases)


@pytest.fixture
def work(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "corpus").mkdir()
    for name, sentence in TOPICS:
        write_topic(tmp_path / "corpus", name, sentence)
    monkeypatch.chdir(tmp_path)  # sources are relative to the working directory, as in the CLI
    return tmp_path


def change_corpus(corpus: Path, run: int) -> None:
    """Edit, add or delete a file (in turn), so that every run has work to do."""
    name, sentence = TOPICS[run % len(TOPICS)]
    if run % 3 == 0:
        write_topic(corpus, name, sentence, run + 1)
    elif run % 3 == 1:
        write_topic(corpus, f"extra-{run}", f"Extra site number {run} keeps spare parts.")
    else:
        victims = sorted(corpus.glob("extra-*.md")) or sorted(corpus.glob("*.md"))[:1]
        victims[0].unlink()


def test_ingest_killed_in_every_phase_never_corrupts_the_index(work: Path, embedder):
    index = work / "index"
    corpus = work / "corpus"
    rng = random.Random(20240611)
    ingest([Path("corpus")], Settings(index_dir=Path("index")), embedder=embedder, progress=False)
    checks = 0  # consistency checks that ran and passed

    def checked_state() -> dict:
        nonlocal checks
        state = index_state(index)  # loads + consistency + no duplicates (asserts inside)
        assert state is not None, "the index is gone after a kill"
        checks += 1
        return state

    required = set(PHASES) if FULL else {"writing"}
    hits: dict[str, int] = {}
    run = 0

    def missing() -> list[str]:
        return [p for p in PHASES if p in required and not hits.get(p)]

    # The planned runs aim at each phase in turn; then up to MAX_EXTRA_RUNS more aim at
    # the required phases no kill has hit yet (a swap lasts only milliseconds).
    while run < KILL_RUNS or (missing() and run < KILL_RUNS + MAX_EXTRA_RUNS):
        target = PHASES[run % len(PHASES)] if run < KILL_RUNS else missing()[0]
        change_corpus(corpus, run if run < KILL_RUNS else 0)  # extra runs: an edit
        args = ("--prune", "--rebuild") if run % 5 == 4 else ("--prune",)
        before = checked_state()["version"]
        phases = work / f"phases-{run}.txt"
        proc, log = start_ingest(work, *args, phases=phases)
        hit = kill_in_phase(proc, phases, target, rng)
        state = checked_state()
        if hit == "finished":
            assert proc.returncode == 0, log.read_text()
        elif hit in ("starting", "reading", "embedding", "writing"):
            assert state["version"] == before, f"run {run}: killed {hit}, yet a new version"
        hits[hit] = hits.get(hit, 0) + 1
        run += 1
    assert not missing(), f"no SIGKILL landed while {missing()} in {run} runs: {hits}"

    # A normal run afterwards completes and leaves exactly what the corpus produces.
    proc, log = start_ingest(work, "--prune")
    assert proc.wait(timeout=INGEST_TIMEOUT) == 0, log.read_text()
    state = checked_state()
    settings = Settings(index_dir=index)
    assert state["chunk_ids"] == expected_chunk_ids(Path("corpus"), settings)
    assert [Path(s).name for s in state["sources"]] == sorted(p.name for p in corpus.glob("*.md"))
    assert drafts(index) == [], "a killed writer's draft was left behind"
    assert [p.name for p in (index / "builds").iterdir()] == [state["version"]]
    assert not list(index.glob(".current-*"))

    record_figures(
        "kill-loop",
        {
            "runs": run,
            "extra_runs_for_missing_phases": run - KILL_RUNS,
            "sigkills": run - hits.get("finished", 0),
            "sigkills_by_phase": {p: hits.get(p, 0) for p in ("starting", *PHASES, "done")},
            "finished_before_the_kill": hits.get("finished", 0),
            "consistency_checks_passed": checks,
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


def first_inside_the_lock(procs: list, phase_files: list[Path]) -> int:
    """Index of the ingest that records a phase first (phases start inside the lock)."""
    deadline = time.monotonic() + INGEST_TIMEOUT
    while time.monotonic() < deadline:
        inside = [k for k, f in enumerate(phase_files) if last_phase(f) != "starting"]
        if inside:
            return inside[0]
        if all(p.poll() is not None for p, _ in procs):
            break
        time.sleep(0.001)
    raise AssertionError(f"neither ingest took the lock: {[log.read_text() for _, log in procs]}")


def test_two_ingests_at_once_one_is_refused_by_the_lock(work: Path):
    """Both start together; the one that takes the lock first is paused (SIGSTOP) inside
    it, so the other must meet the lock: it exits 1 with the documented message without
    entering any phase, and the first, resumed, completes."""
    outcomes = []
    for round_ in range(stress_count("RAG_RACE_ROUNDS", ci=1, full=5)):
        write_topic(work / "corpus", f"round-{round_}", f"Round {round_} added a depot.")
        phase_files = [work / f"race-{round_}-{k}.txt" for k in (0, 1)]
        procs = [start_ingest(work, phases=f) for f in phase_files]
        holder = first_inside_the_lock(procs, phase_files)
        (first, first_log), (other, other_log) = procs[holder], procs[1 - holder]
        first.send_signal(signal.SIGSTOP)
        try:
            code = other.wait(timeout=INGEST_TIMEOUT)
        finally:
            first.send_signal(signal.SIGCONT)
        text = other_log.read_text()
        assert code == 1 and "another ingest is writing" in " ".join(text.split()), text
        assert "Traceback" not in text, text
        assert last_phase(phase_files[1 - holder]) == "starting"  # it never got inside
        assert first.wait(timeout=INGEST_TIMEOUT) == 0, first_log.read_text()
        outcomes.append([first.returncode, other.returncode])
        state = index_state(work / "index")
        assert f"corpus/round-{round_}.md" in state["sources"]
    record_figures(
        "concurrent-ingest",
        {
            "rounds": len(outcomes),
            "exit_codes_holder_other": outcomes,
            "refused_by_lock": sum(o[1] == 1 for o in outcomes),
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
