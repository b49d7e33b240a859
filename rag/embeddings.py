"""Sentence embeddings: texts in, L2-normalized float32 vectors out.

The model directory comes from rag/artifacts.py (packaged sentence-transformers
models, assembled and verified in the model cache); inner product of two vectors
equals their cosine similarity.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from rag.artifacts import ensure
from rag.models import DEFAULT_EMBEDDER, EMBEDDERS, EmbedderError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MEMO_SIZE = 4096  # vectors kept by Embedder.encode_cached (~6 MB at dim 384)


def embedder_dir(name: str, cache: Path | None = None) -> Path:
    """The verified model directory of embedder ``name`` (assembled on first use)."""
    if name not in EMBEDDERS:
        raise EmbedderError(f"unknown embedder '{name}'; known: {', '.join(EMBEDDERS)}")
    if cache is None:
        from rag.config import default_model_cache

        cache = default_model_cache()
    return ensure(EMBEDDERS[name], Path(cache))


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

            path = embedder_dir(self.name, self.cache)
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
