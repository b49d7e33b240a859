"""Run the benchmarks: ``python -m benchmarks.run [--quick] [--only NAME ...]``.

Each benchmark runs in its own process (so memory figures and loaded models do
not leak from one into the next) and writes ``benchmarks/results/<name>.json``
(``benchmarks/results/quick/`` for ``--quick``); then the plots are drawn and the
results table is written into ``benchmarks/README.md`` (full runs) or
``benchmarks/results/quick/TABLE.md`` (quick runs).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import rag.config  # noqa: F401 - first, as in the app: sets OpenMP defaults before libraries load
from benchmarks.common import ROOT, Context, log
from benchmarks.machine import Snapshot, load_record, machine_info, sharing_sentence

BENCHMARKS = {
    "ingest": "benchmarks.bench_ingest",
    "retrieval": "benchmarks.bench_retrieval",
    "generation": "benchmarks.bench_generation",
    "e2e": "benchmarks.bench_e2e",
    "footprint": "benchmarks.bench_footprint",
    "ray": "benchmarks.bench_ray",  # needs the ray extra
}
TITLES = {
    "ingest": "1. Ingest",
    "retrieval": "2. Retrieval",
    "generation": "3. Generation",
    "e2e": "4. End to end",
    "footprint": "5. Footprint",
    "ray": "6. Ray",
}
OPT_IN = {"ray"}  # run only when named: `--only ray` (needs the ray extra)
README = ROOT / "benchmarks" / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def results_dir(ctx: Context) -> Path:
    path = ctx.results / "quick" if ctx.quick else ctx.results
    path.mkdir(parents=True, exist_ok=True)
    return path


def output_paths(ctx: Context) -> list[Path]:
    """What a run writes into the repository: not source code (see `evals.provenance`)."""
    return [results_dir(ctx), README]


def run_child(name: str, ctx: Context) -> None:
    """Run one benchmark in this process and write its JSON."""
    module = importlib.import_module(BENCHMARKS[name])
    started = time.time()
    machine = machine_info(ignore=output_paths(ctx))
    t0 = time.perf_counter()
    result = module.run(ctx)
    result.update(
        {
            "name": name,
            "quick": ctx.quick,
            "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
            "seconds": round(time.perf_counter() - t0, 1),
            "machine": machine,
        }
    )
    out = results_dir(ctx) / f"{name}.json"
    write_json(out, result)
    log(f"{name}: done in {result['seconds']:.0f}s -> {out.relative_to(ROOT)}")


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    tmp.replace(path)


def run_measured(name: str, ctx: Context) -> bool:
    """Run one benchmark in a child process; record the load and other work around it."""
    cmd = [sys.executable, "-m", "benchmarks.run", "--child", name]
    if ctx.quick:
        cmd.append("--quick")
    before = Snapshot.now()
    ok = subprocess.run(cmd, cwd=ROOT).returncode == 0
    after = Snapshot.now()
    out = results_dir(ctx) / f"{name}.json"
    if ok and out.is_file():
        result = json.loads(out.read_text())
        result["load"] = load_record(before, after)
        write_json(out, result)
        log(f"{name}: load {before.load_avg[0]:.1f} -> {after.load_avg[0]:.1f}, other work "
            f"{result['load']['other_work_cores']:.2f} cores")  # fmt: skip
    return ok


def load_results(ctx: Context) -> dict[str, dict]:
    found = {}
    for name in BENCHMARKS:
        path = results_dir(ctx) / f"{name}.json"
        if path.is_file():
            found[name] = json.loads(path.read_text())
    return found


def fmt_ratio(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return f"{value:.2f}×" if value >= 0.1 else f"{value:.3f}×"


def table(results: dict[str, dict]) -> str:
    lines = [
        "| # | figure (what it compares) | ours | baseline | ratio ours/baseline | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in BENCHMARKS:
        res = results.get(name)
        if not res:
            continue
        for row in res["rows"]:
            met = {True: "yes", False: "**no**", None: ""}[row.get("met")]
            lines.append(
                f"| {TITLES[name].split('.')[0]} | {row['figure']} | {row['ours']} | "
                f"{row['baseline']} | {fmt_ratio(row.get('ratio'))} | {row.get('target', '')} "
                f"| {met} |"
            )
    return "\n".join(lines)


def machine_text(m: dict) -> str:
    v = m["versions"]
    return (
        f"{m['cpu']}, {m['cores']} cores, {m.get('memory_gib', m.get('memory_gb'))} GiB RAM, "
        f"{m['platform']}, Python {m['python']}; faiss {v['faiss']}, llama-cpp-python "
        f"{v['llama_cpp']}, torch {v['torch']}, sentence-transformers "
        f"{v['sentence_transformers']}, bm25s {v['bm25s']}"
    )


def header(results: dict[str, dict], command: str) -> str:
    loads = ", ".join(f"{n} {load_span(r)}" for n, r in results.items())
    dates = ", ".join(
        f"{n} {r['started']}, {r['seconds'] / 60:.1f} min (commit {r['machine']['commit']})"
        for n, r in results.items()
    )
    machines: dict[str, list[str]] = {}  # results from older runs may come from another machine
    for n, r in results.items():
        machines.setdefault(machine_text(r["machine"]), []).append(n)
    if len(machines) == 1:
        machine = f"Machine: {next(iter(machines))}."
    else:
        machine = "Machines (not the same for every benchmark: compare ratios, not times): " + (
            "; ".join(f"{', '.join(names)} on {text}" for text, names in machines.items()) + "."
        )
    return (
        f"Last command: `{command}` · each benchmark's latest run: {dates}\n\n{machine}\n\n"
        f"1-minute load average before → after each benchmark ({loads}); "
        f"{sharing_sentence({n: r.get('load', {}) for n, r in results.items()})} "
        "Every figure is a ratio against its baseline measured in the same run, "
        "interleaved where possible.\n"
    )


def load_span(result: dict) -> str:
    """Load average before → after one benchmark (older results: start → end, in the child)."""
    load = result.get("load")
    if load:
        return f"{load['load_avg_before'][0]:.1f}→{load['load_avg_after'][0]:.1f}"
    return f"{result['machine']['load_avg'][0]:.1f}→{result['load_avg_end'][0]:.1f}"


def write_report(ctx: Context, command: str) -> Path:
    results = load_results(ctx)
    out_dir = results_dir(ctx)
    plots = []
    for name, res in results.items():
        module = importlib.import_module(BENCHMARKS[name])
        if hasattr(module, "plot"):
            try:
                plots += module.plot(res, out_dir)
            except Exception as exc:  # noqa: BLE001 - a plot must not lose the table
                log(f"plot for {name} failed: {exc}")
    body = header(results, command) + "\n" + table(results) + "\n"
    if plots:
        rel = out_dir.relative_to(README.parent)
        body += "\nPlots: " + " · ".join(f"[{p}]({rel / p})" for p in plots) + "\n"
    if ctx.quick:
        path = out_dir / "TABLE.md"
        path.write_text(body)
        return path
    text = README.read_text() if README.is_file() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text:
        text += f"\n{START}\n{END}\n"
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    README.write_text(f"{before}{START}\n{body}{END}{after}")
    return README


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the ~2-minute version")
    parser.add_argument(
        "--only", nargs="+", choices=list(BENCHMARKS), help="run only these benchmarks"
    )
    parser.add_argument("--shared", help="the shared data folder [default: ../shared]")
    parser.add_argument(
        "--e2e-questions",
        type=int,
        help="OSA questions in the end-to-end benchmark [default: 8; --quick 2]",
    )
    parser.add_argument(
        "--retrieval-scales",
        help="index sizes of the retrieval benchmark, e.g. 10000,100000 [default: 10k, 100k, 1M]",
    )
    parser.add_argument("--report-only", action="store_true", help="redraw table and plots")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.shared:
        os.environ["BENCH_SHARED"] = args.shared
    if args.e2e_questions:
        os.environ["BENCH_E2E_QUESTIONS"] = str(args.e2e_questions)
    if args.retrieval_scales:
        os.environ["BENCH_RETRIEVAL_SCALES"] = args.retrieval_scales
    ctx = Context(quick=args.quick)
    if args.child:
        run_child(args.child, ctx)
        return 0
    names = args.only or [n for n in BENCHMARKS if n not in OPT_IN]
    command = "python -m benchmarks.run" + (" --quick" if args.quick else "")
    if args.only:
        command += " --only " + " ".join(args.only)
    if args.e2e_questions:
        command += f" --e2e-questions {args.e2e_questions}"
    if args.retrieval_scales:
        command += f" --retrieval-scales {args.retrieval_scales}"
    if args.report_only:
        command += " --report-only"
    failed = []
    if not args.report_only:
        for name in names:
            log(f"== {name} ==")
            if not run_measured(name, ctx):
                failed.append(name)
                log(f"{name} FAILED")
    path = write_report(ctx, command)
    print((results_dir(ctx) / "TABLE.md").read_text() if ctx.quick else "", end="")
    log(f"table written to {path.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
