"""Scale-out on Ray: distributed ingest and answer replicas vs the local engine.

**Ingest.** The first ``--docs`` documents (file order) of the White House briefing
archive, written as 8 ``.jsonl.gz`` shards so that Ray can parse them in
parallel. Every run is a fresh process building a new index (rebuild): the local
engine (`rag.ingest.ingest`: one process, torch's own threads) and
`rag.distributed.ingest.ray_ingest` on a local Ray cluster with 1 and with 2
embedding actors (1 CPU each). Documents/s and chunks/s are over the ingest call
(the cluster's start is reported apart); peak memory per process is read from
``/proc`` every 0.2 s (Ray's workers, raylet and GCS are children of the run).

**Answers.** 8 sessions at once, each asking 2 OSA questions (``BENCH_RAY_TURNS``;
tiny model, answers capped at 48 tokens), answered by `rag.distributed.serve` with 1 and with 2
replicas on a 2-CPU local cluster, vs the local `Answerer` answering one
question at a time (what `rag serve --concurrency 1` does).

Child runs (each prints one JSON object): ``python -m benchmarks.bench_ray --ingest
local|ray1|ray2 DOCS WORK`` and ``--answers local|ray1|ray2 INDEX``.
``BENCH_RAY_DOCS`` sets the number of documents (default 200, 50 with --quick),
``BENCH_RAY_TURNS`` the questions per session (default 2).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.common import ROOT, SCALE_FILE, Context, in_unit, log, peak_rss_bytes

SHARDS = 8
ENGINES = ("local", "ray1", "ray2")
SESSIONS, TURNS, ANSWER_TOKENS = 8, int(os.environ.get("BENCH_RAY_TURNS") or 2), 48


# -- data ---------------------------------------------------------------------------
def write_shards(ctx: Context, n_docs: int) -> Path:
    """The first ``n_docs`` archive lines as ``SHARDS`` .jsonl.gz files (kept between runs)."""
    folder = ctx.work / f"ray-docs-{n_docs}"
    if len(list(folder.glob("*.jsonl.gz"))) == SHARDS:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(ctx.shared / SCALE_FILE, "rt", encoding="utf-8") as fh:
        lines = [line for _, line in zip(range(n_docs), fh, strict=False)]
    per = -(-len(lines) // SHARDS)
    for i in range(SHARDS):
        part = folder / f"part-{i}.jsonl.gz"
        with gzip.open(part.with_suffix(".tmp"), "wt", encoding="utf-8") as out:
            out.writelines(lines[i * per : (i + 1) * per])
        part.with_suffix(".tmp").replace(part)
    return folder


# -- memory -------------------------------------------------------------------------
class ProcessPeaks:
    """Peak RSS (MiB) of this process's descendants, by process title, sampled from /proc."""

    def __init__(self, period: float = 0.2):
        self.period = period
        self.peaks: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProcessPeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.period):
            parents = {}
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        stat = (entry / "stat").read_text()
                        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
                    except (OSError, ValueError, IndexError):
                        continue
            for pid in parents:
                up, seen = pid, 0
                while up not in (me, 0, 1) and seen < 20:
                    up, seen = parents.get(up, 0), seen + 1
                if up != me or pid == me:
                    continue
                try:
                    title = (Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]).decode()
                    rss = _rss_mb(pid)
                except (OSError, UnicodeDecodeError):
                    continue
                old = self.peaks.get(pid, ("", 0.0))[1]
                self.peaks[pid] = (_short_title(title), max(old, rss))

    def by_role(self) -> dict[str, float]:
        """The largest peak of each kind of process."""
        out: dict[str, float] = {}
        for title, mb in self.peaks.values():
            out[title] = round(max(out.get(title, 0.0), mb), 1)
        return out


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _short_title(title: str) -> str:
    if "EmbedActor" in title:
        return "embedding actor"
    if "AnswerReplica" in title or "ServeReplica" in title:
        return "answer replica"
    if "raylet" in title:
        return "raylet"
    if "gcs_server" in title:
        return "gcs_server"
    if title.startswith("ray::"):
        return "other ray workers"
    return Path(title.split()[0]).name if title else "other"


# -- children -----------------------------------------------------------------------
def _ray_init(num_cpus: int) -> float:
    import ray

    from rag.distributed import allow_slow_start, code_runtime_env

    allow_slow_start()
    t0 = time.perf_counter()
    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        runtime_env=code_runtime_env(),
        logging_level="warning",
    )
    return time.perf_counter() - t0


def ingest_child(engine: str, folder: Path, work: Path) -> dict:
    from rag.config import Settings
    from rag.ingest import ingest

    settings = Settings(index_dir=work / f"ray-index-{engine}")
    result: dict = {"engine": engine, "cluster_start_s": 0.0}
    with ProcessPeaks() as peaks:
        if engine == "local":
            report = ingest([folder], settings, rebuild=True, progress=False)
        else:
            import ray

            from rag.distributed.ingest import ray_ingest

            workers = int(engine[-1])
            result["cluster_start_s"] = round(_ray_init(workers), 1)
            report = ray_ingest([folder], settings, rebuild=True, workers=workers, progress=False)
            ray.shutdown()
    docs = len(report.added)
    result.update(
        documents=docs,
        chunks=report.chunks_added,
        seconds=round(report.seconds, 1),
        embed_seconds=round(report.embed_seconds, 1),
        docs_per_s=round(docs / report.seconds, 2),
        chunks_per_s=round(report.chunks_added / report.seconds, 1),
        driver_peak_mb=round(in_unit(peak_rss_bytes(), "MiB"), 1),
        process_peaks_mb=peaks.by_role(),
    )
    return result


def answers_child(engine: str, index_dir: Path) -> dict:
    from benchmarks.common import osa_questions
    from rag.answering import Answerer
    from rag.config import Settings

    settings = Settings(index_dir=index_dir, model="smollm2-135m", max_tokens=ANSWER_TOKENS)
    questions = [q["question"] for q in osa_questions(SESSIONS * TURNS)]
    result: dict = {"engine": engine, "cluster_start_s": 0.0, "deploy_s": 0.0}
    with ProcessPeaks() as peaks:
        if engine == "local":
            answerer = Answerer(settings)
            answerer.generator(settings.model)
            lock = threading.Lock()  # one answer at a time, like `rag serve --concurrency 1`

            def ask(q: str) -> None:
                with lock:
                    list(answerer.answer(q))

        else:
            from rag.distributed.serve import RemoteAnswerer, deploy

            result["cluster_start_s"] = round(_ray_init(2), 1)
            t0 = time.perf_counter()
            handle = deploy(settings, replicas=int(engine[-1]))
            result["deploy_s"] = round(time.perf_counter() - t0, 1)
            remote = RemoteAnswerer(handle, settings, timeout_s=600)

            def ask(q: str) -> None:
                list(remote.answer(q))

        latencies: list[float] = []
        errors: list[str] = []

        def session(i: int) -> None:
            for turn in range(TURNS):
                t = time.perf_counter()
                try:
                    ask(questions[i * TURNS + turn])
                    latencies.append(time.perf_counter() - t)
                except Exception as exc:  # noqa: BLE001 - counted, reported
                    errors.append(f"{type(exc).__name__}: {exc}")

        t0 = time.perf_counter()
        threads = [threading.Thread(target=session, args=(i,)) for i in range(SESSIONS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        if engine != "local":
            import ray

            ray.shutdown()
    latencies.sort()
    return {
        **result,
        "answers": len(latencies),
        "errors": errors,
        "seconds": round(wall, 1),
        "answers_per_min": round(len(latencies) / wall * 60, 1),
        "latency_p50_s": round(latencies[len(latencies) // 2], 1) if latencies else None,
        "latency_max_s": round(latencies[-1], 1) if latencies else None,
        "driver_peak_mb": round(in_unit(peak_rss_bytes(), "MiB"), 1),
        "process_peaks_mb": peaks.by_role(),
    }


def _child(args: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_ray", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench_ray {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the benchmark ------------------------------------------------------------------
def run(ctx: Context) -> dict:
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise SystemExit('bench_ray needs the ray extra: pip install -e ".[ray]"') from exc
    from benchmarks.common import corpus_index

    n_docs = int(os.environ.get("BENCH_RAY_DOCS") or (50 if ctx.quick else 200))
    folder = write_shards(ctx, n_docs)
    ingest_runs = {}
    for engine in ENGINES:
        log(f"ingest {n_docs} documents: {engine}")
        ingest_runs[engine] = _child(["--ingest", engine, str(folder), str(ctx.work)])
        log(f"  {ingest_runs[engine]}")

    index_dir = corpus_index(ctx)
    answer_runs = {}
    for engine in ENGINES:
        log(f"answers, {SESSIONS} sessions x {TURNS}: {engine}")
        try:
            answer_runs[engine] = _child(["--answers", engine, str(index_dir)])
        except RuntimeError as exc:  # the ingest figures are kept
            answer_runs[engine] = {"error": str(exc)[-1500:], "answers_per_min": float("nan")}
        log(f"  {answer_runs[engine]}")

    local, one, two = (ingest_runs[e] for e in ENGINES)
    alocal, aone, atwo = (answer_runs[e] for e in ENGINES)
    rows = [
        {
            "figure": f"ray ingest: chunks/s, Ray with 2 embedding actors vs the local engine "
            f"({local['documents']} archive documents, {local['chunks']} chunks, 8 shards; "
            "cluster start not counted)",
            "ours": f"{two['chunks_per_s']} chunks/s",
            "baseline": f"{local['chunks_per_s']} chunks/s",
            "ratio": round(two["chunks_per_s"] / local["chunks_per_s"], 3),
            "target": "measured (2 cores: no gain possible)",
            "met": None,
        },
        {
            "figure": "ray ingest: chunks/s, 2 embedding actors vs 1 (1 CPU each)",
            "ours": f"{two['chunks_per_s']} chunks/s",
            "baseline": f"{one['chunks_per_s']} chunks/s",
            "ratio": round(two["chunks_per_s"] / one["chunks_per_s"], 3),
            "target": "≤ 2 (2 cores)",
            "met": None,
        },
        {
            "figure": f"ray serve: answers/min, {SESSIONS} sessions x {TURNS} questions, "
            "2 replicas vs 1 (tiny model, 2-CPU cluster)",
            "ours": f"{atwo['answers_per_min']}/min",
            "baseline": f"{aone['answers_per_min']}/min",
            "ratio": round(atwo["answers_per_min"] / aone["answers_per_min"], 3),
            "target": "measured",
            "met": None,
        },
    ]
    return {
        "rows": rows,
        "details": {
            "documents_requested": n_docs,
            "ingest": ingest_runs,
            "answers": answer_runs,
            "answers_local_per_min": alocal["answers_per_min"],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_ray")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--ingest", choices=ENGINES)
    group.add_argument("--answers", choices=ENGINES)
    parser.add_argument("paths", nargs="+", type=Path, help="ingest: DOCS WORK; answers: INDEX")
    args = parser.parse_args(argv)
    if args.ingest:
        result = ingest_child(args.ingest, *args.paths)
    else:
        result = answers_child(args.answers, *args.paths)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    import rag.config  # noqa: F401 - first, as in the app: OpenMP defaults before libraries load

    sys.exit(main())
