"""Reliability and security suite (issue #8); see tests/README.md."""
