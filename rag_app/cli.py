"""The full `rag` command: the core commands of `rag.cli`, `serve` from the UI, `eval`
from the harness. `rag/` stays free of both; only this entry point joins them."""

from __future__ import annotations

import evals.cli
import rag.cli
import ui.cli

app = rag.cli.build_app(ui.cli.app, evals.cli.app)
