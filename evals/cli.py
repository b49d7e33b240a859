"""`rag eval`: the command-line entry of the evaluation harness (added to `rag` by `rag_app`)."""

from __future__ import annotations

import datetime as dt
import json
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from evals.paths import REPO_ROOT

console = Console(stderr=True)
app = typer.Typer()  # `rag_app` adds its `eval` command to the `rag` command


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def _load_config(path: Path | None) -> dict:
    if path is None:
        return {}
    import yaml

    from rag.config import Settings

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        _fail(f"cannot read --config {path}: {exc}", 2)
    if not isinstance(data, dict):
        _fail(f"--config {path} must hold a mapping of setting: value", 2)
    known = set(Settings.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        _fail(f"--config {path}: unknown settings {unknown}; known: {sorted(known)}", 2)
    return data


@app.command("eval")
def eval_command(
    set_name: Annotated[
        str,
        typer.Option(
            "--set",
            help=(
                "Question set: osa, osa-heldout, osa-heldout2, osa-heldout3, osa-heldout4, "
                "osa-heldout5, osa-heldout6, osa-heldout7, osa-heldout8, osa-heldout9, "
                "osa-followups, squad2-dev, clapnq-dev, or a .jsonl file"
            ),
            show_default=False,
        ),
    ],
    limit: Annotated[
        int | None,
        typer.Option(
            help="Run a fixed-seed sample of N questions [default: all; 300 for external sets]"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the question sample")] = 0,
    split: Annotated[
        str,
        typer.Option(
            help="all, or the fixed half of the (sampled) set: dev (for tuning) or test "
            "(held out), by a hash of each question id"
        ),
    ] = "all",
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML file of settings (top_k: 6, model: ...)")
    ] = None,
    baseline: Annotated[
        bool, typer.Option("--baseline/--no-baseline", help="Also run the plain LangChain baseline")
    ] = False,
    judge: Annotated[
        bool,
        typer.Option("--judge/--no-judge", help="LLM judge for citation support (slower)"),
    ] = True,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Report directory [default: evals/runs/<set>-<time>/]"),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Shared data directory [default: $RAG_SHARED_DIR or ../shared]"
        ),
    ] = None,
    corpus: Annotated[
        Path | None,
        typer.Option("--corpus", help="Corpus for a .jsonl set (overrides its 'corpus')"),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Model name (see `rag models`) or .gguf path"),
    ] = None,
    k: Annotated[
        int | None, typer.Option("--k", "-k", help="Passages given to the generator")
    ] = None,
    embedder: Annotated[
        str | None,
        typer.Option("--embedder", help="Embedding model (see `rag models`)", show_default=False),
    ] = None,
    retrieval: Annotated[
        str | None,
        typer.Option("--retrieval", help="Retriever: dense or hybrid (dense + BM25)"),
    ] = None,
    retrieval_only: Annotated[
        bool,
        typer.Option(
            "--retrieval-only",
            help="Only retrieval metrics and latency; no generator is loaded",
        ),
    ] = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            help="Report directory of an earlier run of this set and settings: reuse its "
            "answers and scores, ask only the questions it lacks (e.g. --limit 150 -> 300)",
        ),
    ] = None,
    reuse_baseline: Annotated[
        Path | None,
        typer.Option(
            "--reuse-baseline",
            help="Report directory of an earlier --baseline run of this set: reuse its "
            "baseline answers and scores (implies --baseline; only the settings the "
            "baseline reads must match), to compare a change to our pipeline quickly",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars")] = False,
) -> None:
    """Evaluate retrieval, answers, citations, refusals and cost on a question set."""
    from evals.runner import run_eval, run_retrieval_eval
    from evals.sets import EvalSetError, load_set
    from rag.config import Settings
    from rag.embeddings import EMBEDDERS, EmbedderError
    from rag.models import ModelError
    from rag.store import IndexStoreError

    if retrieval_only and baseline:
        _fail("--retrieval-only evaluates our retriever alone; drop --baseline", 2)
    if retrieval_only and (resume or reuse_baseline):
        _fail("--retrieval-only runs no generator: it has no answers to reuse", 2)
    if resume and reuse_baseline:
        _fail("use either --resume or --reuse-baseline, not both", 2)
    baseline = baseline or reuse_baseline is not None
    overrides = _load_config(config)
    shortcuts = {"model": model, "top_k": k, "embedder": embedder, "retrieval": retrieval}
    overrides.update({key: v for key, v in shortcuts.items() if v is not None})
    try:
        settings = Settings.from_env(**overrides)
    except (TypeError, ValueError) as exc:
        _fail(str(exc), 2)
    if settings.embedder not in EMBEDDERS:
        _fail(f"unknown embedder '{settings.embedder}'; known: {', '.join(EMBEDDERS)}", 2)
    try:
        evalset = load_set(
            set_name, limit=limit, seed=seed, data_dir=data_dir, corpus=corpus, split=split
        )
    except EvalSetError as exc:
        _fail(str(exc))
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = out or REPO_ROOT / "evals" / "runs" / f"{evalset.name}-{stamp}"
    if sys.argv[1:2] == ["eval"]:
        command = "rag eval " + shlex.join(sys.argv[2:])
    else:  # called as a library / from tests: rebuild the command from the options
        given = {
            "--set": set_name, "--limit": limit, "--seed": seed if seed else None,
            "--split": None if split == "all" else split,
            "--config": config, "--out": out, "--data-dir": data_dir, "--corpus": corpus,
            "--model": model, "--k": k, "--embedder": embedder, "--retrieval": retrieval,
            "--resume": resume, "--reuse-baseline": reuse_baseline,
        }  # fmt: skip
        command = "rag eval " + " ".join(
            f"{flag} {shlex.quote(str(v))}" for flag, v in given.items() if v is not None
        )
        command += " --retrieval-only" * retrieval_only
        command += " --baseline" * baseline + " --no-judge" * (not judge and not retrieval_only)
    what = (
        f"retrieval only ({settings.retrieval}, embedder {settings.embedder}, "
        f"top-k {settings.top_k}); no generator"
        if retrieval_only
        else f"systems: ours{' + baseline' if baseline else ''}; "
        f"LLM judge {'on' if judge else 'off'}"
    )
    console.print(
        f"[bold]{len(evalset.questions)} questions[/] from {escape(evalset.name)} "
        f"({len(evalset.answerable)} answerable, {len(evalset.unanswerable)} unanswerable); "
        f"{what}"
    )

    def log(message: str) -> None:
        if not quiet:
            console.print(f"[dim]{escape(message)}[/]")

    try:
        if retrieval_only:
            result = run_retrieval_eval(
                evalset, settings, out_dir, progress=not quiet, command=command, log=log
            )
        else:
            result = run_eval(
                evalset,
                settings,
                out_dir,
                baseline=baseline,
                judge=judge,
                progress=not quiet,
                command=command,
                log=log,
                resume=resume,
                reuse_baseline=reuse_baseline,
            )
    except (IndexStoreError, ModelError, EmbedderError, EvalSetError) as exc:
        _fail(str(exc))
    if retrieval_only:
        _print_retrieval_summary(result, out_dir)
    else:
        _print_summary(result, out_dir)


def _print_retrieval_summary(result: dict, out_dir: Path) -> None:
    from rich.table import Table

    from evals.metrics import RETRIEVAL_METRICS

    summary = result["systems"]["ours"]
    k = result["meta"]["top_k"]
    table = Table("metric", "value")
    for key, label, _ in RETRIEVAL_METRICS:
        value = summary.get(key)
        table.add_row(
            label.replace("Recall@k", f"Recall@{k}"), "–" if value is None else f"{value:.3f}"
        )
    for name in ("retrieve_ms_p50", "retrieve_ms_p95"):
        value = summary.get(name)
        table.add_row(name, "–" if value is None else f"{value:.1f}")
    Console().print(table)
    Console().print(f"report: {out_dir}/report.md (and report.html, summary.json, results.jsonl)")
    Console().print(f"runtime: {json.dumps(result['meta']['runtime_s'])}")


def _print_summary(result: dict, out_dir: Path) -> None:
    from rich.table import Table

    from evals.metrics import QUALITY_METRICS

    systems = result["systems"]
    k = result["meta"]["top_k"]
    table = Table("metric", *systems)
    for key, label, _ in QUALITY_METRICS:
        values = [systems[s].get(key) for s in systems]
        if all(v is None for v in values):
            continue
        table.add_row(
            label.replace("Recall@k", f"Recall@{k}"),
            *("–" if v is None else f"{v:.3f}" for v in values),
        )
    for name in ("total_s_p50", "total_s_p95", "first_token_ms_p50"):
        table.add_row(
            name,
            *("–" if systems[s].get(name) is None else f"{systems[s][name]:.2f}" for s in systems),
        )
    Console().print(table)
    Console().print(f"report: {out_dir}/report.md (and report.html, summary.json, results.jsonl)")
    runtime = result["meta"]["runtime_s"]
    Console().print(f"runtime: {json.dumps(runtime)}")
