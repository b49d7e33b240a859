"""Render a `Report` to Markdown (report.md)."""

from __future__ import annotations

from evals.report.document import Block, Bullets, Facts, Plots, Report, Table, Text


def table_markdown(table: Table, rows: list[list[str]] | None = None) -> str:
    """A pipe table; ``|`` in cells is escaped and newlines become spaces."""

    def cell(x: str) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    marks = ["---:" if a == "r" else "---" for a in table.align]
    lines = [
        "| " + " | ".join(cell(h) for h in table.headers) + " |",
        "| " + " | ".join(marks) + " |",
    ]
    rows = table.rows if rows is None else rows
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _block(block: Block) -> list[str]:
    """The lines of one block, each block followed by a blank line."""
    if isinstance(block, Text):
        return [block.text, ""]
    if isinstance(block, Bullets):
        return [f"- {item}" for item in block.items] + [""]
    if isinstance(block, Facts):
        return [f"- **{name}**: {value}" for name, value in block.items] + [""]
    if isinstance(block, Plots):
        return [f"![{p.caption}]({p.path})" for p in block.plots] + [""]
    if not block.rows:
        return ["None.", ""]
    limit = block.markdown_rows
    if limit is not None and len(block.rows) > limit:
        shown = f"First {limit} shown; all are in report.html and results.jsonl."
        return [shown, "", table_markdown(block, block.rows[:limit]), ""]
    return [table_markdown(block), ""]


def render_markdown(report: Report) -> str:
    lines = [f"# {report.title}: `{report.subject}`", ""]
    for section in report.sections:
        if section.title:
            lines += [f"## {section.title}", ""]
        for block in section.blocks:
            lines += _block(block)
    return "\n".join(lines)
