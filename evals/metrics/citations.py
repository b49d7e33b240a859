"""ALCE citation recall and precision (Gao et al., 2023) for any entailment judge."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

Entails = Callable[[str, str], bool]


def join_passages(texts: Iterable[str]) -> str:
    return "\n\n".join(texts)


def citation_scores(
    sentences: Sequence[tuple[str, Sequence[int]]],
    passages: dict[int, str],
    entails: Entails,
) -> dict[str, float | int] | None:
    """ALCE citation recall and precision of one answer (Gao et al., 2023).

    ``sentences`` are ``(text, cited passage numbers)``; ``passages`` maps a
    number to its text; ``entails(premise, claim)`` is the support judge.

    - A sentence is *supported* when the concatenation of its cited passages
      entails it (a sentence without citations is unsupported).
      Recall = supported sentences / sentences.
    - A citation is *correct* when its sentence is supported and the citation is
      needed: it entails the sentence alone, or the sentence's other citations
      without it do not. Precision = correct citations / citations.

    Entailment is assumed monotone (more passages never remove support), so the
    joint and leave-one-out checks are skipped when a single passage already
    decides them; the result equals ALCE's procedure under that assumption.
    Returns ``None`` when there is no sentence to score.
    """
    sentences = [(t, list(dict.fromkeys(c))) for t, c in sentences if t.strip()]
    if not sentences:
        return None
    supported = correct = total = 0
    for text, refs in sentences:
        total += len(refs)
        if not refs or any(n not in passages for n in refs):
            continue
        if len(refs) == 1:
            ok = entails(passages[refs[0]], text)
            supported += ok
            correct += ok
            continue
        single = {n: entails(passages[n], text) for n in refs}
        joint = any(single.values()) or entails(join_passages(passages[n] for n in refs), text)
        if not joint:
            continue
        supported += 1
        # Leave-one-out from the last citation backwards: consecutive prompts then share
        # the longest prefix with the joint check (a cheaper prompt cache for an LLM judge).
        for n in reversed(refs):
            if single[n]:
                correct += 1
                continue
            others = [m for m in refs if m != n]
            rest = any(single[m] for m in others) or entails(
                join_passages(passages[m] for m in others), text
            )
            correct += not rest
    return {
        "citation_recall": supported / len(sentences),
        "citation_precision": correct / total if total else 0.0,
        "sentences": len(sentences),
        "citations": total,
    }
