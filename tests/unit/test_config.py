"""Settings: modes are parsed in one place, with an error naming the allowed values."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from rag.config import IndexType, Retrieval, Settings, default_model_cache, user_cache_dir


def test_modes_parse_from_strings_and_compare_equal_to_them():
    settings = Settings(retrieval=" Dense ", index_type="HNSW")
    assert settings.retrieval is Retrieval.DENSE and settings.retrieval == "dense"
    assert settings.index_type is IndexType.HNSW
    assert Settings().retrieval is Retrieval.HYBRID
    assert settings.replace(retrieval="hybrid").retrieval is Retrieval.HYBRID


@pytest.mark.parametrize(
    ("name", "allowed"),
    [("retrieval", "'hybrid', 'dense'"), ("index_type", "'auto', 'flat', 'hnsw', 'ivfpq'")],
)
def test_a_bad_mode_names_the_value_and_the_allowed_ones(name, allowed, monkeypatch):
    with pytest.raises(ValueError) as err:
        Settings(**{name: "bm42"})
    assert str(err.value) == f"{name} must be one of {allowed}, got 'bm42'"
    monkeypatch.setenv(f"RAG_{name.upper()}", "bm42")
    with pytest.raises(ValueError, match=f"{name} must be one of"):
        Settings.from_env()


def test_to_dict_holds_plain_values():
    data = Settings(retrieval="dense").to_dict()
    assert type(data["retrieval"]) is str and data["retrieval"] == "dense"
    assert type(data["index_type"]) is str
    assert yaml.safe_load(yaml.safe_dump(data)) == json.loads(json.dumps(data))


def test_follow_up_tunables_have_their_defaults():
    settings = Settings()
    assert (settings.followup_turns, settings.followup_key_terms) == (2, 8)
    assert settings.substitution_similar_share == 0.65


@pytest.mark.parametrize(
    ("name", "bad", "message"),
    [
        ("followup_turns", 0, "followup_turns must be >= 1, got 0"),
        ("followup_key_terms", -1, "followup_key_terms must be >= 1, got -1"),
        (
            "substitution_similar_share",
            1.5,
            "substitution_similar_share must be in [0, 1], got 1.5",
        ),
    ],
)
def test_a_bad_follow_up_tunable_names_the_value(name, bad, message, monkeypatch):
    with pytest.raises(ValueError) as err:
        Settings(**{name: bad})
    assert str(err.value) == message
    monkeypatch.setenv(f"RAG_{name.upper()}", str(bad))
    with pytest.raises(ValueError, match=re.escape(message)):
        Settings.from_env()


def test_caches_live_under_the_user_cache_unless_configured(tmp_path, monkeypatch):
    from rag.ocr import cache_dir as ocr_cache

    monkeypatch.delenv("RAG_MODEL_CACHE", raising=False)
    monkeypatch.delenv("RAG_OCR_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_model_cache() == tmp_path / "rag-osa" / "models"
    assert ocr_cache() == tmp_path / "rag-osa" / "ocr"
    monkeypatch.setenv("RAG_OCR_CACHE", str(tmp_path / "elsewhere"))
    assert ocr_cache() == tmp_path / "elsewhere"
    assert user_cache_dir("models", "RAG_OCR_CACHE") == tmp_path / "elsewhere"
