"""The entailment judge: does the named evidence state the drafted answer?

No NLI model is packaged for this machine, so the generator itself judges: one
forward pass over (evidence, question, answer) and the probability of "Yes"
against "No" as its first reply token, read from the logits
(`Generator.yes_probability`). The system prompt is fixed and comes first, so
llama.cpp keeps its KV cache across answers. The pipeline refuses an answer the
judge gives less than ``Settings.judge_threshold``; the probability is also one
of the calibrated abstention's signals (rag/calibration.py).
"""

from __future__ import annotations

from rag.checks import Draft, evidence_text
from rag.generation import Generator
from rag.types import ContextSentence

JUDGE_PROMPT = (
    "You check answers against evidence. Reply Yes if the evidence states the answer "
    "to the question. Reply No if the evidence does not state it, or if the evidence is "
    "about a different country, person, year, amount or thing than the question asks about."
)


def judge_messages(question: str, answer: str, evidence: list[ContextSentence]) -> list[dict]:
    user = (
        f"Evidence:\n{evidence_text(evidence)}\n\nQuestion: {question}\nAnswer: {answer}\n\n"
        "Does the evidence state this answer to the question? Reply Yes or No."
    )
    return [{"role": "system", "content": JUDGE_PROMPT}, {"role": "user", "content": user}]


class Judge:
    """P(the evidence states the answer), from the generator's yes/no logits."""

    def __init__(self, generator: Generator):
        self.generator = generator

    def probability(self, question: str, draft: Draft, evidence: list[ContextSentence]) -> float:
        messages = judge_messages(question, draft.text, evidence)
        return round(float(self.generator.yes_probability(messages)), 4)
