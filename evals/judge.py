"""Support judges for citation metrics: does a passage entail a claim?

- `LLMJudge`: the local generator answers a fixed yes/no prompt (greedy, 2 tokens).
  It is a stand-in for the NLI model (TRUE, T5-11B) that ALCE uses, which is
  far too large for a 2-core offline machine.
- `LexicalJudge`: the cheap check: enough of the claim's content words appear in
  the passage and every number in the claim does.

`agreement` measures a judge against the hand-labelled cases in
``evals/judge_cases.jsonl`` (30 claim/passage pairs, 17 supported, 13 not).
Neither judge keeps a cache on disk; `LLMJudge` memoises within one run only.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from evals.paths import EVALS_DIR

JUDGE_CASES = EVALS_DIR / "judge_cases.jsonl"

JUDGE_SYSTEM = (
    "You are a strict fact checker. You decide whether a claim is fully supported by a text. "
    "Reply with one word: yes or no."
)
JUDGE_USER = (
    "Text:\n<<<\n{premise}\n>>>\n\n"
    "Claim: {claim}\n\n"
    "Is every fact in the claim stated in the text (paraphrases count, outside knowledge does "
    "not)? Reply yes or no."
)


def judge_messages(premise: str, claim: str) -> list[dict]:
    premise = premise.replace("<<<", "< < <").replace(">>>", "> > >")
    return [
        {"role": "system", "content": JUDGE_SYSTEM},
        {"role": "user", "content": JUDGE_USER.format(premise=premise, claim=claim)},
    ]


def parse_verdict(text: str) -> bool:
    """True only for a reply that starts with 'yes' (case and punctuation ignored)."""
    word = text.strip().lstrip("*\"'`").lower()
    return word.startswith("yes")


class LLMJudge:
    """The generator model as a yes/no entailment judge (fixed prompt, greedy decoding)."""

    name = "llm"

    def __init__(self, generator, max_premise_chars: int = 6000):
        self.generator = generator
        self.max_premise_chars = max_premise_chars
        self.calls = 0
        self.seconds = 0.0
        self._memo: dict[tuple[str, str], bool] = {}

    def entails(self, premise: str, claim: str) -> bool:
        key = (premise, claim)
        if key in self._memo:
            return self._memo[key]
        started = time.perf_counter()
        messages = judge_messages(premise[: self.max_premise_chars], claim)
        reply = "".join(self.generator.stream_chat(messages, max_tokens=2, temperature=0.0))
        self.calls += 1
        self.seconds += time.perf_counter() - started
        verdict = parse_verdict(reply)
        self._memo[key] = verdict
        return verdict

    def prefetch(self, pairs: list[tuple[str, str]]) -> None:
        """Judge (premise, claim) pairs in the given order, filling the memo.

        llama.cpp reuses the longest common prompt prefix of consecutive calls, so
        judging every claim against one passage before moving to the next passage
        processes each passage once instead of once per claim.
        """
        for premise, claim in pairs:
            self.entails(premise, claim)


class LexicalJudge:
    """Supported when >= ``threshold`` of the claim's content words and all its numbers occur."""

    name = "lexical"

    def __init__(self, threshold: float = 0.75):
        self.threshold = threshold

    def entails(self, premise: str, claim: str) -> bool:
        from rag.citations import content_words, lexical_support

        words = content_words(claim)
        if not words:
            return True
        passage = set(content_words(premise))
        numbers = {w for w in words if any(ch.isdigit() for ch in w)}
        if numbers - passage:
            return False
        return lexical_support(words, passage) >= self.threshold


def load_cases(path: Path = JUDGE_CASES) -> list[dict]:
    return [
        json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line
    ]


def agreement(judge, cases: list[dict]) -> dict:
    """Accuracy and Cohen's kappa of ``judge`` against the hand labels, plus its errors."""
    started = time.perf_counter()
    tp = fp = fn = tn = 0
    errors = []
    for case in cases:
        verdict = judge.entails(case["passage"], case["claim"])
        gold = bool(case["supported"])
        tp += verdict and gold
        tn += (not verdict) and (not gold)
        fp += verdict and not gold
        fn += (not verdict) and gold
        if verdict != gold:
            errors.append({"id": case["id"], "claim": case["claim"], "gold": gold})
    n = len(cases)
    accuracy = (tp + tn) / n if n else None
    p_yes = ((tp + fp) / n) * ((tp + fn) / n) if n else 0.0
    p_no = ((tn + fn) / n) * ((tn + fp) / n) if n else 0.0
    expected = p_yes + p_no
    kappa = (accuracy - expected) / (1 - expected) if n and expected < 1 else None
    return {
        "judge": judge.name,
        "cases": n,
        "accuracy": accuracy,
        "kappa": kappa,
        "true_positive": tp,
        "true_negative": tn,
        "false_positive": fp,
        "false_negative": fn,
        "errors": errors,
        "seconds": round(time.perf_counter() - started, 2),
    }
