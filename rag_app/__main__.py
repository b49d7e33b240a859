"""``python -m rag_app`` runs the `rag` command (as the installed `rag` script does)."""

from rag_app.cli import app

app(prog_name="rag")
