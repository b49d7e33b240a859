"""A report as data: sections of small blocks, built once and rendered by
`evals.report.markdown` and `evals.report.html`, so the two formats cannot drift."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    """Rows of cells; ``align`` has one letter a column (``l``/``r``, default: first left).

    ``markdown_rows`` caps the rows the Markdown shows (the HTML shows them all).
    """

    headers: list[str]
    rows: list[list[str]]
    align: str = ""
    markdown_rows: int | None = None

    def __post_init__(self) -> None:
        self.align = self.align or ("l" + "r" * (len(self.headers) - 1))


@dataclass
class Text:
    """A paragraph of plain text."""

    text: str


@dataclass
class Bullets:
    """A bullet list of plain text."""

    items: list[str]


@dataclass
class Facts:
    """A bullet list of ``name: value`` lines (the run's metadata)."""

    items: list[tuple[str, str]]


@dataclass
class Plot:
    """A PNG written beside the report (``path`` relative to it) with its caption."""

    path: str
    caption: str


@dataclass
class Plots:
    """The report's plots, shown one after the other."""

    plots: list[Plot]


Block = Table | Text | Bullets | Facts | Plots


@dataclass
class Section:
    """A titled part of a report; a section without a title is the report's preamble."""

    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Report:
    """``title`` + ``subject`` (shown as code, e.g. the set's name) and the sections."""

    title: str
    subject: str
    sections: list[Section]
