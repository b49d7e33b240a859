"""Integration tier: the real embedder and the tiny model."""
