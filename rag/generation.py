"""Local text generation behind one streaming method.

`LlamaCppGenerator` runs a GGUF model with llama-cpp-python using the model's
own chat template. Greedy decoding by default. llama.cpp keeps the KV cache of
the longest common token prefix between calls, so a fixed system prompt placed
first is processed once and reused for later questions.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass
class GenerationStats:
    """Token counts of the last call (prompt tokens include reused prefix)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    extra: dict = field(default_factory=dict)


class Generator(Protocol):
    """What the pipeline needs from a text generator."""

    name: str
    last_stats: GenerationStats

    def warm_up(self) -> None: ...

    def stream_chat(
        self, messages: list[dict], max_tokens: int, temperature: float
    ) -> Iterator[str]: ...


class LlamaCppGenerator:
    """A GGUF chat model run by llama.cpp on the CPU."""

    def __init__(
        self,
        model_path: Path,
        name: str | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_batch: int = 512,
        seed: int = 0,
    ):
        self.model_path = Path(model_path)
        self.name = name or self.model_path.name
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, os.cpu_count() or 1)
        self.n_batch = n_batch
        self.seed = seed
        self.last_stats = GenerationStats()
        self._llm = None
        # One llama.cpp context cannot serve two generations at once.
        self.lock = threading.Lock()

    def warm_up(self) -> None:
        if self._llm is not None:
            return
        from llama_cpp import Llama

        self._llm = Llama(
            model_path=str(self.model_path),
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            n_threads_batch=self.n_threads,
            n_batch=self.n_batch,
            n_ubatch=self.n_batch,
            rope_freq_base=0.0,  # 0 = use the model's own value (Qwen2.5 needs 1e6)
            seed=self.seed,
            verbose=False,
        )

    @property
    def llm(self):
        self.warm_up()
        return self._llm

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def stream_chat(
        self, messages: list[dict], max_tokens: int = 256, temperature: float = 0.0
    ) -> Iterator[str]:
        """Yield the reply piece by piece as the model produces it."""
        greedy = temperature <= 0.0
        with self.lock:
            llm = self.llm
            stream = llm.create_chat_completion(
                messages=messages,
                max_tokens=max_tokens,
                temperature=0.0 if greedy else temperature,
                top_k=1 if greedy else 40,
                top_p=1.0 if greedy else 0.95,
                min_p=0.0 if greedy else 0.05,
                repeat_penalty=1.0,
                seed=self.seed,
                stream=True,
            )
            completion = 0
            for part in stream:
                delta = part["choices"][0].get("delta", {}).get("content")
                if delta:
                    completion += 1
                    yield delta
            total = int(getattr(llm, "n_tokens", 0))
            self.last_stats = GenerationStats(
                prompt_tokens=max(0, total - completion), completion_tokens=completion
            )
