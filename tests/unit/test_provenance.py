"""The commit a report records: stamped "+local changes" for source changes only, not for
the run's own output files (evals/provenance.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from evals import provenance
from evals.provenance import LOCAL_CHANGES, changed_paths, git_commit, source_changes


def test_changed_paths_reads_porcelain_z_with_renames():
    status = " M rag/pipeline.py\0R  new name.md\0old name.md\0M  evals/reports/osa/report.md\0"
    assert changed_paths(status) == [
        "rag/pipeline.py",
        "new name.md",
        "old name.md",
        "evals/reports/osa/report.md",
    ]


def test_source_changes_ignore_output_folders_and_files_only(tmp_path: Path):
    changed = [
        "evals/reports/osa/report.md",
        "evals/reports/osa/summary.json",
        "evals/reports/osa-heldout/report.md",  # a sibling whose name starts the same
        "benchmarks/README.md",
        "rag/pipeline.py",
    ]
    ignore = [tmp_path / "evals/reports/osa", tmp_path / "benchmarks/README.md"]
    assert source_changes(changed, ignore, tmp_path) == [
        "evals/reports/osa-heldout/report.md",
        "rag/pipeline.py",
    ]
    assert source_changes(changed, [Path("/elsewhere/out")], tmp_path) == changed


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with a source file and a committed report; git_commit reads it."""

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "rag").mkdir()
    (tmp_path / "rag/pipeline.py").write_text("x = 1\n")
    (tmp_path / "reports/osa").mkdir(parents=True)
    (tmp_path / "reports/osa/report.md").write_text("old figures\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    monkeypatch.setattr(provenance, "REPO_ROOT", tmp_path)
    return tmp_path


def test_a_run_writing_its_own_report_keeps_the_exact_commit(repo: Path):
    sha = git_commit()
    assert sha and LOCAL_CHANGES not in sha
    (repo / "reports/osa/report.md").write_text("new figures\n")
    assert git_commit() == sha + LOCAL_CHANGES  # without ignore: stamped
    assert git_commit(ignore=[repo / "reports/osa"]) == sha


def test_a_changed_source_file_is_still_stamped(repo: Path):
    sha = git_commit()
    (repo / "reports/osa/report.md").write_text("new figures\n")
    (repo / "rag/pipeline.py").write_text("x = 2\n")
    assert git_commit(ignore=[repo / "reports/osa"]) == sha + LOCAL_CHANGES


def test_benchmark_runs_ignore_their_results_and_table(tmp_path: Path):
    from benchmarks import run
    from benchmarks.common import Context

    full, quick = Context(work=tmp_path), Context(quick=True, work=tmp_path)
    assert run.output_paths(full) == [run.ROOT / "benchmarks/results", run.README]
    assert run.output_paths(quick) == [run.ROOT / "benchmarks/results/quick", run.README]
