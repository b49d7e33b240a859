"""Performance benchmarks (issue #7): `python -m benchmarks.run [--quick] [--only ...]`."""
