"""HTML pages (.html, .htm): the text of every block element, one paragraph each."""

from __future__ import annotations

from pathlib import Path

from rag.loaders.common import Loaded
from rag.loaders.text import decode_text, normalize_text


def load_html(data: bytes, path: Path) -> Loaded:
    """An HTML page; the title from ``<title>``, else the first ``<h1>``."""
    from bs4 import BeautifulSoup
    from bs4.element import CData, Comment, Declaration, Doctype, ProcessingInstruction

    soup = BeautifulSoup(decode_text(data), "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "head"]):
        if tag.name == "head":
            continue
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    if soup.head:
        soup.head.decompose()
    if not title and soup.h1:
        title = soup.h1.get_text(" ", strip=True)
    # Every text node belongs to its nearest block-level ancestor; consecutive
    # nodes of one block form a paragraph. Text directly inside <div>, <th>,
    # <blockquote>, <dd>, ... is kept, not only text inside <p>/<li>/<td>.
    blocks: list[str] = []
    current: list[str] = []
    owner = None
    for node in soup.find_all(string=True):
        if isinstance(node, (Comment, CData, Declaration, Doctype, ProcessingInstruction)):
            continue
        piece = " ".join(node.split())
        if not piece:
            continue
        parent = node.parent
        while parent is not None and parent.name not in _HTML_BLOCKS:
            parent = parent.parent
        if current and parent is not owner:
            blocks.append(" ".join(current))
            current = []
        owner = parent
        current.append(piece)
    if current:
        blocks.append(" ".join(current))
    return title, normalize_text("\n\n".join(blocks)), [], None


_HTML_BLOCKS = frozenset(
    "p h1 h2 h3 h4 h5 h6 li td th pre div section article main header footer nav aside "
    "blockquote dd dt dl figure figcaption caption table thead tbody tfoot tr ul ol address "
    "form fieldset legend details summary body html [document]".split()
)
