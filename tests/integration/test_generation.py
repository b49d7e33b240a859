"""The tiny model: installed and verified; LlamaCppGenerator's grammar-constrained replies
and the yes/no judge."""

from __future__ import annotations

import json
from pathlib import Path

import rag.artifacts as artifacts
from rag.evidence import EvidenceReader, evidence_schema
from rag.judge import claim_messages
from rag.models import MODELS
from rag.types import ContextSentence

CHAT = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Name a fruit."},
]
EVIDENCE = [ContextSentence("1.1", 1, "Japan gifted Manila a coastal radar.", 0, 36, "Seed")]


def test_schema_constrained_reply_always_parses_with_an_id_that_was_shown(tiny_generator):
    schema = evidence_schema(["1.1", "1.2", "2.1"])
    reader = EvidenceReader()
    for piece in tiny_generator.stream_chat(CHAT, 48, 0.0, schema=schema):
        reader.feed(piece)
    assert reader.evidence and set(reader.evidence) <= {"1.1", "1.2", "2.1"}
    assert len(reader.evidence) <= 4
    if reader.done:  # the tiny model may run out of tokens inside the answer
        assert json.loads(reader.text)["evidence"] == reader.evidence


def test_yes_probability_is_a_stable_probability_and_leaves_generation_intact(tiny_generator):
    before = "".join(tiny_generator.stream_chat(CHAT, 12, 0.0))
    yes = tiny_generator.yes_probability(claim_messages("Japan gave Manila a radar.", EVIDENCE))
    again = tiny_generator.yes_probability(claim_messages("Japan gave Manila a radar.", EVIDENCE))
    other = tiny_generator.yes_probability(claim_messages("Fiji has 9 moons.", EVIDENCE))
    assert 0.0 < yes < 1.0 and abs(yes - again) < 1e-4  # the reused KV cache gives the same
    assert other != yes
    assert "".join(tiny_generator.stream_chat(CHAT, 12, 0.0)) == before


def test_tiny_model_is_verified(tiny_model_path: Path, model_cache: Path):
    spec = MODELS["smollm2-135m"]
    assert tiny_model_path.name == spec.filename
    assert tiny_model_path.stat().st_size == spec.size
    assert tiny_model_path.read_bytes()[:4] == b"GGUF"
    assert artifacts.location(spec, model_cache) == tiny_model_path
    stamp = json.loads((model_cache / f"{spec.name}.verified.json").read_text())
    assert stamp["files"][spec.filename]["sha256"] == spec.files[0].sha256
