"""Process-wide resources behind the UI, loaded once and shared by all sessions.

One `RagPipeline` owns the embedder, the index and the default model. A request
with other settings (passages, model, temperature, threshold) gets a light
`RagPipeline` that shares those resources, so nothing heavy loads per request.
Index writes (upload, delete) are serialized and followed by a reload, so new
documents are searchable at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.answering import Answerer, answer_turn
from rag.artifacts import ArtifactError, install_command, location, status, verify
from rag.config import Settings
from rag.conversation import Conversation, Rewrite, Turn
from rag.embeddings import embedder_dir
from rag.errors import FixableError
from rag.ingest import ingest, remove_documents
from rag.models import MODELS
from rag.pipeline import RagPipeline, StreamEvent
from rag.store import IndexMissing, IndexStore, IndexStoreError
from rag.types import DocumentInfo
from ui.uploads import MAX_UPLOAD_BYTES, UploadError, is_inside, store_upload

INDEX_LOCK_WAIT_SECONDS = 60.0
Problem = tuple[str, str | None]  # (message, command that fixes it)


def ingest_command(settings: Settings) -> str:
    """The command that builds the index the UI reads."""
    cmd = f"rag ingest {settings.corpus_dir}"
    if Path(settings.index_dir) != Path("index"):
        cmd += f" --index-dir {settings.index_dir}"
    return cmd


def explain(exc: BaseException, settings: Settings) -> Problem:
    """A user-facing message and fix command for an exception (never a traceback)."""
    if isinstance(exc, IndexMissing):
        return (
            f"No document index in {settings.index_dir}/ yet. Build it from the bundled "
            "corpus, or upload documents in the Documents tab.",
            ingest_command(settings),
        )
    if isinstance(exc, FixableError):
        return exc.reason, exc.fix
    if isinstance(exc, UploadError | ValueError):
        return str(exc), None
    return (
        f"unexpected error ({type(exc).__name__}); the details are in the server log",
        None,
    )


_VERIFIED: dict[tuple, str | None] = {}  # file identity -> problem (None: verified)


def damaged_model(name: str, cache: Path) -> str | None:
    """Why the present file of model ``name`` is unusable (wrong size or sha256), or None.

    The full sha256 runs once per file identity (path, size, mtime) and process;
    a verified file is also stamped by `verify`, so later starts are instant.
    """
    spec = MODELS[name]
    path = location(spec, cache)
    try:
        st = path.stat()
    except OSError:
        return None  # missing: reported as not installed / not assembled
    key = (str(path), st.st_size, st.st_mtime_ns, spec.files[0].sha256)
    if key not in _VERIFIED:
        try:
            verify(spec, cache, path)
            _VERIFIED[key] = None
        except ArtifactError as exc:
            _VERIFIED[key] = f"The model '{name}' is damaged: {exc.reason}."
    return _VERIFIED[key]


@dataclass
class UploadResult:
    """What happened to a batch of uploads."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # one message per file
    chunks_added: int = 0
    seconds: float = 0.0


class Engine:
    """The loaded pipeline plus the upload folder and the feedback file."""

    def __init__(
        self,
        settings: Settings,
        uploads_dir: Path,
        feedback_file: Path,
        pipeline: RagPipeline | None = None,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        answerer=None,
    ):
        self.settings = settings
        self.pipe = pipeline or RagPipeline(settings)
        # Loaded resources shared by requests; `answerer` answers the chat turns:
        # this process's pipeline, or the Ray Serve replicas of `rag serve --replicas`.
        self.local = Answerer(settings, self.pipe)
        self.answerer = answerer or self.local
        self.uploads_dir = Path(uploads_dir)
        self.feedback_file = Path(feedback_file)
        self.max_upload_bytes = max_upload_bytes
        self._load_lock = self.local.load_lock
        self._write_lock = threading.Lock()

    @property
    def remote(self) -> bool:
        """True when the answers come from replicas, not from this process."""
        return self.answerer is not self.local

    # -- loading ------------------------------------------------------------------------
    def warm_up(self) -> list[Problem]:
        """Load embedder, index and default model now; report what is missing.

        With remote replicas the model is theirs: only the embedder (for uploads)
        and the index (for the documents list) load here."""
        problems: list[Problem] = []

        def run(step: Callable[[], object]) -> None:
            try:
                step()
            except Exception as exc:  # reported by the caller and in the page banner
                problems.append(explain(exc, self.settings))

        # The model loads in C with the GIL released: overlap it with the embedder.
        model = threading.Thread(
            target=run, args=(lambda: self.generator(self.settings.model),), name="load-model"
        )
        if not self.remote:
            model.start()
        run(self.pipe.embedder.warm_up)
        run(lambda: self.pipe.retriever)
        if not self.remote:
            model.join()
        return problems

    def generator(self, model: str):
        """The loaded generator for ``model`` in this process (loaded on first use)."""
        return self.local.generator(model)

    def pipeline(self, **options) -> RagPipeline:
        """A pipeline with per-request settings sharing the loaded embedder, index and model."""
        return self.local.pipeline(**options)

    # -- answering ----------------------------------------------------------------------
    def answer(
        self, question: str, turns: Sequence[Turn | dict] = (), **options
    ) -> Iterator[StreamEvent]:
        """Answer one chat turn: the UI and the API get every answer stream here
        (`rag.answering.answer_turn` in this process, or on the replicas)."""
        if self.remote:
            return self.answerer.answer(question, turns, **options)
        return answer_turn(self.pipeline(**options), question, turns)

    def rewrite(self, question: str, turns: Sequence[Turn | dict] = (), **options) -> Rewrite:
        """How `answer` would search for ``question`` after ``turns``, without answering it."""
        if self.remote:
            return self.answerer.rewrite(question, turns, **options)
        return Conversation.for_pipeline(self.pipeline(**options), turns).rewrite(question)

    def reload(self) -> None:
        """Read the index again here; replicas follow its current version by themselves."""
        self.local.reload()

    # -- status ---------------------------------------------------------------------------
    def problems(self) -> list[Problem]:
        """Setup problems (missing index, model or embedder), each with its fix."""
        problems: list[Problem] = []
        if not IndexStore.exists(self.settings.index_dir):
            problems.append(explain(IndexMissing(""), self.settings))
        model = self.settings.model
        if model in MODELS:
            state = status(MODELS[model], self.settings.model_cache)
            if state in ("ready", "wrong size"):  # present: size and sha256 must match
                damaged = damaged_model(model, self.settings.model_cache)
                if damaged:
                    problems.append((damaged, install_command(model, force=True)))
            else:  # missing: a plain install is enough
                problems.append((f"The model '{model}' is {state}.", install_command(model)))
        elif not Path(model).expanduser().is_file():
            problems.append((f"The model file {model} does not exist.", None))
        try:
            embedder_dir(self.settings.embedder)
        except ArtifactError as exc:
            problems.append(explain(exc, self.settings))
        return problems

    def installed_models(self) -> list[str]:
        """Model choices: the configured one first, then every other ready model."""
        names = [self.settings.model]
        for name in MODELS:
            if name not in names and status(MODELS[name], self.settings.model_cache) == "ready":
                names.append(name)
        return names

    def documents(self) -> list[DocumentInfo]:
        try:
            with self._load_lock:
                return self.pipe.store.documents()
        except IndexStoreError:
            return []

    def uploaded_sources(self, docs: Sequence[DocumentInfo]) -> set[str]:
        return {d.source for d in docs if is_inside(d.source, self.uploads_dir)}

    # -- writing --------------------------------------------------------------------------
    def add_files(self, files: Sequence[tuple[Path, str]], progress: bool = True) -> UploadResult:
        """Check, store and ingest uploaded ``(path, original name)`` pairs."""
        result = UploadResult()
        stored = []
        for path, name in files:
            try:
                stored.append(store_upload(path, name, self.uploads_dir, self.max_upload_bytes))
            except UploadError as exc:
                result.rejected.append(str(exc))
        if not stored:
            return result
        skipped: list[str] = []
        with self._write_lock:
            report = ingest(
                [s.path for s in stored],
                self.settings,
                embedder=self.pipe.embedder,
                progress=progress,
                lock_wait_seconds=INDEX_LOCK_WAIT_SECONDS,
                max_file_bytes=self.max_upload_bytes,
                on_skip=lambda s: skipped.append(s.path),
            )
            for item in report.skipped:
                result.rejected.append(f"{Path(item.path).name}: {item.reason}")
            for s in stored:  # a file the index refused must not linger in uploads
                if not s.replaced and any(Path(p).resolve() == s.path for p in skipped):
                    s.path.unlink(missing_ok=True)
            self.reload()
        result.added = [Path(s).name for s in report.added]
        result.updated = [Path(s).name for s in report.updated]
        result.unchanged = [Path(s).name for s in report.unchanged]
        result.chunks_added = report.chunks_added
        result.seconds = report.seconds
        return result

    def delete_document(self, source: str) -> int:
        """Remove a document from the index (and its file, if it was uploaded here)."""
        with self._write_lock:
            report = remove_documents(
                [source], self.settings, lock_wait_seconds=INDEX_LOCK_WAIT_SECONDS
            )
            path = Path(source)
            if report.removed and is_inside(path, self.uploads_dir) and path.is_file():
                path.unlink()
            self.reload()
        return report.chunks_removed
