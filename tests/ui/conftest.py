"""Fixtures for the UI tests: a small, writable index (`make_engine`, an engine with a fake
model, is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import Settings

UI_DOCS = {
    "osa.txt": (
        "Japan created Official Security Assistance (OSA) in 2023 to give defense equipment "
        "to partner militaries. The first recipients of OSA are Malaysia, the Philippines, "
        "Bangladesh, and Fiji. Each recipient receives a quarter of the 2 billion yen budget."
    ),
    "bread.md": (
        "# Baking Sourdough Bread\n\nSourdough bread rises with a starter of wild yeast and "
        "lactic acid bacteria. Bakers feed the starter with flour and water every day."
    ),
}


@pytest.fixture
def ui_settings(tmp_path: Path, embedder) -> Settings:
    """Settings with a fresh, writable index of two small documents."""
    from rag.ingest import ingest

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in UI_DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    settings = Settings(
        index_dir=tmp_path / "index",
        corpus_dir=corpus,
        model="smollm2-135m",
        model_cache=tmp_path / "model-cache",
        n_threads=1,
        calibration="off",  # fitted on the real model's signals, not a fake's
    )
    ingest([corpus], settings, embedder=embedder, progress=False)
    return settings
