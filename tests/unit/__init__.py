"""Unit tier: no model files (a hashing embedder and a scripted generator)."""
