"""All tunable settings in one place.

`Settings` is a plain dataclass: every stage takes the values it needs from it,
so a run is reproducible from one object. Environment variables prefixed with
``RAG_`` override the defaults (``RAG_TOP_K=8``), and the CLI overrides both.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import typing
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Self

ENV_PREFIX = "RAG_"

# torch, FAISS and llama.cpp each bring their own OpenMP runtime, whose idle
# threads spin by default and starve each other (and anything else running) of
# CPU. Sleeping instead made query embedding and llama.cpp decoding much faster on
# a busy machine (benchmarks/README.md has the figures). It only works if set
# before those libraries load; `rag/__init__.py` imports this module first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def default_threads() -> int:
    """llama.cpp threads: all cores but one (at least one).

    llama.cpp's threads wait for each other at every step, so one thread that
    shares its core with anything else (the embedder, the UI, another program)
    slows them all: on the shared 2-core benchmark machine one thread decoded
    faster than two (benchmarks/README.md, generation).
    """
    return max(1, (os.cpu_count() or 1) - 1)


def default_prompt_threads() -> int:
    """llama.cpp threads for prompt processing (prefill): all cores.

    Prefill is one large batch per prompt, so its threads rarely wait for each
    other and every core helps on a quiet machine (benchmarks/README.md; decoding
    stays at `default_threads`). On a busy machine they gain little; set
    ``RAG_N_THREADS_BATCH=1`` when running several models at once.
    """
    return max(1, os.cpu_count() or 1)


def user_cache_dir(name: str, env: str) -> Path:
    """``$env`` when set, else ``rag-osa/<name>`` in the user's cache (``$XDG_CACHE_HOME``,
    default ``~/.cache``)."""
    configured = os.environ.get(env)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rag-osa" / name


def default_model_cache() -> Path:
    """Where assembled model files live (override with ``RAG_MODEL_CACHE``)."""
    return user_cache_dir("models", "RAG_MODEL_CACHE")


class Mode(StrEnum):
    """A setting with a fixed set of values (compares equal to its string)."""

    @classmethod
    def from_str(cls, value: str, setting: str) -> Self:
        """The member named by ``value``; anything else is an error naming the allowed ones."""
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            allowed = ", ".join(f"'{m.value}'" for m in cls)
            raise ValueError(f"{setting} must be one of {allowed}, got {value!r}") from None


class Retrieval(Mode):
    """How passages are found: dense + BM25 fused by weighted RRF, or embeddings only."""

    HYBRID = "hybrid"
    DENSE = "dense"


class IndexType(Mode):
    """The FAISS index built at ingest (rag/faiss_index.py, `choose_index_type`)."""

    AUTO = "auto"  # flat for small corpora, HNSW from AUTO_HNSW_MIN_CHUNKS chunks on
    FLAT = "flat"
    HNSW = "hnsw"
    IVFPQ = "ivfpq"


@dataclass
class Settings:
    """Configuration shared by ingestion, retrieval, generation and the UI."""

    # Where documents and the built index live.
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")

    # Chunking: target size and overlap in characters; chunks end on
    # sentence boundaries whenever the text has them.
    chunk_size: int = 700
    chunk_overlap: int = 120

    # Embedding model (a key of rag.models.EMBEDDERS).
    embedder: str = "all-MiniLM-L6-v2"
    embed_batch_size: int = 32
    # FAISS index, chosen at ingest and recorded in the index manifest.
    index_type: IndexType = IndexType.AUTO

    # Retrieval: hybrid beats dense on recall (evals/reports/osa/ has the figures).
    retrieval: Retrieval = Retrieval.HYBRID
    top_k: int = 4  # passages given to the model
    candidates: int = 20  # per ranking, before fusion
    dense_weight: float = 1.0
    bm25_weight: float = 1.5
    # Weight of a third RRF ranking: the candidates whose document date (in the
    # chunk's title) is a year/month the question names. 0 turns it off.
    date_weight: float = 1.0
    # Maximal marginal relevance over the candidates: 1.0 = off (pure relevance),
    # lower values trade relevance for passages unlike those already picked.
    mmr_lambda: float = 1.0
    # Tight context (rag/context.py): the best sentences of the top `context_pool`
    # chunks, at most `context_chars` characters over at most `top_k` passages.
    # context_chars = 0 gives the model whole passages (the top_k best chunks).
    context_pool: int = 8
    context_chars: int = 1600
    # A sentence's score: this weight x its embedding similarity to the question, the
    # rest x its share of the question's words; sentences scoring more than
    # `context_score_drop` below the best one are not worth their prompt tokens.
    context_semantic_weight: float = 0.6
    context_score_drop: float = 0.35
    # Below this cosine similarity of the best passage, refuse without generating.
    refusal_threshold: float = 0.25
    # Evidence first (rag/evidence.py, rag/checks.py): an answer sentence is supported
    # when its numbers and names are in the sentences the model named as evidence and
    # at least this share of the content words it adds to the question.
    min_evidence_share: float = 0.5
    # A sentence its named evidence does not support may rest on the one read sentence
    # closest to it, if every claim check passes there (rag/pipeline.py `_checked`):
    # the model often names the first sentence of each passage. On by default since
    # 2026-12-01 (chosen on osa-heldout5/6 replays, measured on osa-heldout7: evals/README.md).
    reground_claims: bool = True
    # The entailment judge (rag/judge.py): refuse when P(evidence states the answer)
    # is below this; 0 turns the judge off.
    judge_threshold: float = 0.5
    # Calibrated abstention (rag/calibration.py): a JSON logistic regression ("default":
    # rag/calibration.json; "off" or a path); refuse when P(right) is below
    # `abstain_below`, or, when that is unset, below the threshold chosen when fitting.
    calibration: str = "default"
    abstain_below: float | None = None
    # Drop answer sentences that fail a claim check (otherwise they are shown,
    # marked unsupported).
    drop_unsupported: bool = True

    # Follow-up questions (rag/conversation.py, rag/substitution.py): a rewrite reads
    # the last `followup_turns` earlier questions and compares at most
    # `followup_key_terms` content words of a question; "What about X?" replaces, of
    # the earlier question's names, one whose embedding similarity to X is at least
    # `substitution_similar_share` of the best name's.
    followup_turns: int = 2
    followup_key_terms: int = 8
    substitution_similar_share: float = 0.65

    # Generation (a key of rag.models.MODELS or a path to a .gguf file).
    model: str = "qwen2.5-1.5b"
    temperature: float = 0.0
    max_tokens: int = 256
    # Answers stop after this many sentences: the model is asked for one to three, but
    # greedy decoding sometimes runs on, repeating itself, at ~0.2 s a word on a CPU.
    max_answer_sentences: int = 3
    n_ctx: int = 4096
    n_threads: int = field(default_factory=lambda: default_threads())  # decoding
    n_threads_batch: int = field(default_factory=lambda: default_prompt_threads())  # prefill
    n_batch: int = 512
    max_question_chars: int = 2000

    model_cache: Path = field(default_factory=default_model_cache)

    def __post_init__(self) -> None:
        self.corpus_dir = Path(self.corpus_dir)
        self.index_dir = Path(self.index_dir)
        self.model_cache = Path(self.model_cache)
        for name, mode in _mode_fields().items():  # the one place strings become modes
            setattr(self, name, mode.from_str(getattr(self, name), name))
        self.validate()

    def validate(self) -> None:
        """Fail fast with a message naming the bad value."""
        if self.chunk_size < 50:
            raise ValueError(f"chunk_size must be >= 50 characters, got {self.chunk_size}")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ValueError(f"chunk_overlap must be in [0, chunk_size), got {self.chunk_overlap}")
        for name in (
            "min_evidence_share",
            "judge_threshold",
            "abstain_below",
            "context_semantic_weight",
            "context_score_drop",
            "substitution_similar_share",
        ):
            if getattr(self, name) is not None and not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.n_threads < 1 or self.n_threads_batch < 1:
            raise ValueError(
                f"n_threads and n_threads_batch must be >= 1, got {self.n_threads} "
                f"and {self.n_threads_batch}"
            )
        if self.max_answer_sentences < 1:
            raise ValueError(f"max_answer_sentences must be >= 1, got {self.max_answer_sentences}")
        for name in ("top_k", "followup_turns", "followup_key_terms"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.mmr_lambda <= 1.0:
            raise ValueError(f"mmr_lambda must be in [0, 1], got {self.mmr_lambda}")
        if self.context_chars < 0:
            raise ValueError(f"context_chars must be >= 0, got {self.context_chars}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be in [0, 2], got {self.temperature}")
        if not -1.0 <= self.refusal_threshold <= 1.0:
            raise ValueError(f"refusal_threshold must be in [-1, 1], got {self.refusal_threshold}")

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, then ``RAG_*`` environment variables, then explicit overrides."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            values[f.name] = _coerce(f.type, raw, f.name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, object]:
        """Plain values (strings for paths and modes), for JSON and YAML."""
        return {
            k: str(v) if isinstance(v, Path | Mode) else v
            for k, v in dataclasses.asdict(self).items()
        }


@functools.cache
def _mode_fields() -> dict[str, type[Mode]]:
    hints = typing.get_type_hints(Settings)
    return {name: t for name, t in hints.items() if isinstance(t, type) and issubclass(t, Mode)}


def _coerce(type_name: object, raw: str, name: str) -> object:
    kind = str(type_name)
    try:
        if kind == "bool":
            if raw.strip().lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError("expected true/false")
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "float | None":
            return None if raw.strip().lower() in ("", "none") else float(raw)
        if kind == "Path":
            return Path(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {ENV_PREFIX}{name.upper()}={raw!r}: {exc}") from exc
    return raw
