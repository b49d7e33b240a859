"""Local text generation behind one streaming method.

`LlamaCppGenerator` runs a GGUF model with llama-cpp-python using the model's
own chat template. Greedy decoding by default. llama.cpp keeps the KV cache of
the longest common token prefix between calls, so a fixed system prompt placed
first is processed once and reused for later questions. The KV state of each
system prompt's prefix is also saved (a few MB) and restored when another prompt
has replaced it in the context (a follow-up rewrite, for instance), so it is
never computed twice (gain measured in benchmarks/README.md).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rag.config import default_threads


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
        self, messages: list[dict], max_tokens: int, temperature: float, schema: dict | None = None
    ) -> Iterator[str]: ...

    def yes_probability(self, messages: list[dict]) -> float: ...


@dataclass
class _Prefix:
    """The tokens of a prompt up to the user's turn, and their saved KV state."""

    tokens: list[int]
    state: object = None  # llama_cpp.LlamaState once computed


MAX_SAVED_PREFIXES = 4


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
        prefix_cache: bool = True,
        n_threads_batch: int | None = None,
        use_mmap: bool = False,
    ):
        self.model_path = Path(model_path)
        self.name = name or self.model_path.name
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.n_threads_batch = n_threads_batch or self.n_threads  # prompt processing
        self.n_batch = n_batch
        self.seed = seed
        # Read the weights into memory instead of mapping the file: llama.cpp repacks
        # most of them for the CPU anyway, and with a mapping the file pages stayed
        # resident too (peak RSS -0.6 GB with qwen2.5-1.5b, load +0.3 s; benchmarks/).
        self.use_mmap = use_mmap
        self.prefix_cache = prefix_cache
        self._prefixes: dict[str, _Prefix | None] = {}  # system prompt -> prefix
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
            n_threads_batch=self.n_threads_batch,
            n_batch=self.n_batch,
            n_ubatch=self.n_batch,
            rope_freq_base=0.0,  # 0 = use the model's own value (Qwen2.5 needs 1e6)
            use_mmap=self.use_mmap,
            seed=self.seed,
            verbose=False,
        )

    @property
    def llm(self):
        self.warm_up()
        return self._llm

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    # -- system-prompt prefix cache -------------------------------------------------
    def _prefix_for(self, messages: list[dict]) -> _Prefix | None:
        """The fixed prompt prefix (system turn + start of the user turn) of ``messages``."""
        if not self.prefix_cache or not messages or messages[0].get("role") != "system":
            return None
        key = str(messages[0].get("content", ""))
        if key not in self._prefixes:
            if len(self._prefixes) >= MAX_SAVED_PREFIXES:
                self._prefixes.pop(next(iter(self._prefixes)))  # the oldest
            tokens = self._render_prefix(messages[0])
            self._prefixes[key] = _Prefix(tokens) if tokens and len(tokens) >= 16 else None
        return self._prefixes[key]

    def _render_prefix(self, system: dict) -> list[int] | None:
        """Tokens of the chat template rendered up to where the user's text starts.

        Rendered the way llama-cpp-python renders GGUF chat templates; if the real
        prompt differs, llama.cpp's own prefix check simply reuses less.
        """
        try:
            formatter = self._formatter()
            if formatter is None:
                return None
            marker = "\ue000"
            result = formatter(messages=[system, {"role": "user", "content": marker}])
            text = result.prompt.split(marker, 1)[0]
            tokens = self._llm.tokenize(
                text.encode("utf-8"), add_bos=not result.added_special, special=True
            )
            return list(tokens[:-1])  # the last token may merge with the user's text
        except Exception:  # noqa: BLE001 - an optimisation only: never fail a question
            return None

    def _formatter(self):
        """The model's own chat template, as llama-cpp-python renders it (None: no template)."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llm = self._llm
        template = llm.metadata.get("tokenizer.chat_template")
        if llm.chat_format != "chat_template.default" or not template:
            return None
        eos_id, bos_id = llm.token_eos(), llm.token_bos()
        return Jinja2ChatFormatter(
            template=template,
            eos_token=llm._model.token_get_text(eos_id) if eos_id != -1 else "",
            bos_token=llm._model.token_get_text(bos_id) if bos_id != -1 else "",
            stop_token_ids=[eos_id],
        )

    def yes_probability(self, messages: list[dict]) -> float:
        """P("Yes") against P("No") as the reply's first token, from the model's logits.

        One forward pass over the prompt, no sampling: the judge's answer is a
        probability, not a word. The KV cache of the longest common prefix with the
        previous call is kept, so a fixed system prompt is processed once.
        """
        import numpy as np

        with self.lock:
            llm = self.llm
            formatter = self._formatter()
            if formatter is None:
                raise RuntimeError(f"{self.name} has no chat template for the judge")
            result = formatter(messages=messages)
            tokens = llm.tokenize(
                result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
            )
            if len(tokens) >= self.n_ctx:
                raise ValueError("the judge prompt does not fit the context window")
            prefix = self._prefix_for(messages)  # the judge's system prompt: saved once
            if prefix is not None:
                self._load_prefix(llm, prefix)
            common = 0
            for a, b in zip(llm.input_ids[: llm.n_tokens], tokens, strict=False):
                if a != b:
                    break
                common += 1
            llm.n_tokens = min(common, len(tokens) - 1)  # at least one token to evaluate
            llm.eval(tokens[llm.n_tokens :])
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
            yes, no = self._answer_tokens()
            top_yes, top_no = float(logits[yes].max()), float(logits[no].max())
            self.last_stats = GenerationStats(prompt_tokens=len(tokens), completion_tokens=0)
            return float(1.0 / (1.0 + np.exp(top_no - top_yes)))

    def _answer_tokens(self) -> tuple[list[int], list[int]]:
        """Token ids that start a "Yes" and a "No" reply, in the spellings models use."""
        if not hasattr(self, "_yes_no"):
            llm = self._llm

            def first(words: tuple[str, ...]) -> list[int]:
                ids = {llm.tokenize(w.encode(), add_bos=False, special=False)[0] for w in words}
                return sorted(ids)

            self._yes_no = (
                first(("Yes", "yes", " Yes", " yes")),
                first(("No", "no", " No", " no")),
            )
        return self._yes_no

    def _load_prefix(self, llm, prefix: _Prefix) -> bool:
        """Make the context start with ``prefix``: kept, restored, or computed and saved.

        Returns False when it had to be computed now (nothing was spared).
        """
        n = len(prefix.tokens)
        if llm.n_tokens >= n and list(llm.input_ids[:n]) == prefix.tokens:
            return True  # still in the KV cache (llama.cpp reuses it by itself)
        try:
            if prefix.state is not None:
                llm.load_state(prefix.state)
                return True
            llm.reset()
            llm.eval(prefix.tokens)
            prefix.state = llm.save_state()
        except Exception:  # noqa: BLE001 - fall back to plain prefix matching
            prefix.state = None
            llm.reset()
        return False

    def stream_chat(
        self,
        messages: list[dict],
        max_tokens: int = 256,
        temperature: float = 0.0,
        schema: dict | None = None,
    ) -> Iterator[str]:
        """Yield the reply piece by piece as the model produces it.

        With a JSON ``schema`` the reply is constrained to it by llama.cpp's grammar
        sampling, so it always parses.
        """
        greedy = temperature <= 0.0
        with self.lock:
            llm = self.llm
            prefix = self._prefix_for(messages)
            spared = prefix is None or self._load_prefix(llm, prefix)
            cached = [int(t) for t in llm.input_ids[: llm.n_tokens]] if spared else []
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
                response_format={"type": "json_object", "schema": schema} if schema else None,
            )
            completion = 0
            for part in stream:
                delta = part["choices"][0].get("delta", {}).get("content")
                if delta:
                    completion += 1
                    yield delta
            total = int(getattr(llm, "n_tokens", 0))
            prompt_tokens = max(0, total - completion)
            reused = 0
            for a, b in zip(cached, llm.input_ids[:prompt_tokens], strict=False):
                if a != b:
                    break
                reused += 1
            self.last_stats = GenerationStats(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion,
                extra={"cached_prompt_tokens": min(reused, max(0, prompt_tokens - 1))},
            )
