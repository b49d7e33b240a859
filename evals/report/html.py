"""Render a `Report` to one self-contained HTML page (report.html; plots linked beside it)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from evals.report.document import Block, Bullets, Facts, Plots, Report, Table, Text

CSS = (Path(__file__).with_name("report.css")).read_text(encoding="utf-8")


def table_html(table: Table) -> str:
    def tag(name: str, x: str, a: str) -> str:
        style = ' class="num"' if a == "r" else ""
        return f"<{name}{style}>{escape(str(x))}</{name}>"

    head = "".join(tag("th", h, a) for h, a in zip(table.headers, table.align, strict=True))
    body = "".join(
        "<tr>" + "".join(tag("td", c, a) for c, a in zip(row, table.align, strict=True)) + "</tr>"
        for row in table.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _block(block: Block) -> str:
    if isinstance(block, Text):
        return f"<p>{escape(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Facts):
        items = (f"<li><b>{escape(n)}</b>: {escape(v)}</li>" for n, v in block.items)
        return "<ul>" + "".join(items) + "</ul>"
    if isinstance(block, Plots):
        return "\n".join(
            f"<figure><img src='{escape(p.path)}' alt='{escape(p.caption)}'>"
            f"<figcaption>{escape(p.caption)}</figcaption></figure>"
            for p in block.plots
        )
    return table_html(block) if block.rows else "<p>None.</p>"


def render_html(report: Report) -> str:
    heading = f"{escape(report.title)}: <code>{escape(report.subject)}</code>"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{escape(report.title)}: {escape(report.subject)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{heading}</h1>",
    ]
    for section in report.sections:
        if section.title:
            parts.append(f"<h2>{escape(section.title)}</h2>")
        parts += [_block(block) for block in section.blocks]
    parts.append("</body></html>")
    return "\n".join(parts)
