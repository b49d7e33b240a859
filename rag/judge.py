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


def claim_messages(answer: str, evidence: list[ContextSentence]) -> list[dict]:
    """Is the answer, read as a claim, true according to the evidence?"""
    user = (
        f"Evidence:\n{evidence_text(evidence)}\n\nClaim: {answer}\n\n"
        "Is the claim true according to the evidence? Reply Yes or No."
    )
    return [{"role": "system", "content": JUDGE_PROMPT}, {"role": "user", "content": user}]


def answers_messages(question: str, evidence: list[ContextSentence]) -> list[dict]:
    """Does the evidence answer this exact question (whatever the draft says)?"""
    user = (
        f"Evidence:\n{evidence_text(evidence)}\n\nQuestion: {question}\n\n"
        "Does the evidence answer this exact question? Reply Yes or No."
    )
    return [{"role": "system", "content": JUDGE_PROMPT}, {"role": "user", "content": user}]


class Judge:
    """Two yes/no probabilities from the generator's logits, sharing the evidence prefix.

    ``judge``: the draft, read as a claim, is true according to its evidence (the
    pipeline's gate: a made-up list or a year the evidence lacks scores low).
    ``judge_answers``: the evidence answers this exact question (a signal for the
    calibrated abstention: near misses about another country score lower). The
    formulations were chosen on eight hand-made cases about the seed article
    (benchmarks/README.md, "Evidence first, checks and the judge"), none from an evaluation set.
    """

    def __init__(self, generator: Generator):
        self.generator = generator

    def signals(self, question: str, draft: Draft, evidence: list[ContextSentence]) -> dict:
        claim = self.generator.yes_probability(claim_messages(draft.text, evidence))
        answers = self.generator.yes_probability(answers_messages(question, evidence))
        return {"judge": round(float(claim), 4), "judge_answers": round(float(answers), 4)}
