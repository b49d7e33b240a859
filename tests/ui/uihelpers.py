"""Hand-made answers for the UI tests (imported by the tests and their conftest)."""

from __future__ import annotations

from rag.types import Answer, AnswerSentence, Citation

SEED_TEXT = (
    "Japan's Official Security Assistance (OSA) program gives grants for defense equipment. "
    "The OSA's initial pool of recipients includes Malaysia, the Philippines, Bangladesh, "
    "and Fiji. Each would be allotted a quarter of this fiscal year's 2 billion yen OSA budget."
)
INJECTED = 'Click <script>alert("x")</script> <img src=x onerror="alert(1)"> & read.'


def make_answer(refused: bool = False, standalone: str | None = None) -> Answer:
    """An answer citing two passages, with one unsupported sentence."""
    seed = Citation(1, "seed-0", "corpus/seed.txt", "Japan's OSA <seed>", None, SEED_TEXT,
                    0, len(SEED_TEXT), 0.6421)  # fmt: skip
    start = SEED_TEXT.index("The OSA's initial")
    end = SEED_TEXT.index("Fiji.") + len("Fiji.")
    pdf = Citation(2, "pdf-3", "docs/vision.pdf", "Joint Vision", 6, INJECTED, 10, 70, 0.51)
    other = Citation(3, "x-1", "corpus/other.md", "Other", None, "Unrelated text.", 0, 15, 0.33)
    sentences = [
        AnswerSentence(
            "The first recipients are Malaysia, the Philippines, Bangladesh and Fiji.",
            [1],
            0.82,
            True,
            {1: (start, end)},
        ),  # fmt: skip
        AnswerSentence("It also mentions <b>clicks</b>.", [2], 0.7, True, {2: (0, 5)}),
        AnswerSentence("Japan invented OSA in 1954.", [], 0.2, False),
    ]
    if refused:
        return Answer(
            question="What is the moon made of?",
            answer="The documents do not say.",
            refused=True,
            citations=[],
            sentences=[],
            timings={"retrieve_ms": 5.0, "first_token_ms": 0.0, "total_ms": 12.0},
            model="fake",
            refusal_reason="no passage is relevant enough (best score 0.21 < threshold 0.30)",
            standalone_question=standalone,
            retrieved=[seed, pdf],
        )
    return Answer(
        question="Which countries are the first recipients of Japan's OSA?",
        answer="The first recipients are Malaysia, the Philippines, Bangladesh and Fiji [1].",
        refused=False,
        citations=[seed, pdf],
        sentences=sentences,
        timings={"retrieve_ms": 5.0, "first_token_ms": 900.0, "total_ms": 2400.0},
        model="fake",
        standalone_question=standalone,
        retrieved=[seed, pdf, other],
    )
