"""`rag/` is the core: importing it (every module of it) loads neither the UI nor the harness."""

from __future__ import annotations

import json
import subprocess
import sys

IMPORT_ALL_OF_RAG = """
import importlib, json, pkgutil, sys
import rag
names = [m.name for m in pkgutil.iter_modules(rag.__path__, "rag.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "loaded": sorted(sys.modules)}))
"""
FORBIDDEN = ("gradio", "evals", "ui", "rag_app")


def test_rag_imports_neither_ui_nor_evals():
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL_OF_RAG], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert {"rag.cli", "rag.pipeline", "rag.store"} <= set(result["modules"])
    loaded = [m for m in result["loaded"] if m.split(".")[0] in FORBIDDEN]
    assert loaded == [], f"importing rag loaded {loaded}"
