"""A cited PDF page as an image, with a box over each line of evidence."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ui.render.markup import esc

if TYPE_CHECKING:
    from ui.pages import PageView


def render_page_view(view: PageView) -> str:
    """The cited page as an image with a translucent box over each line of evidence."""
    label = f"Page {view.page}" + (" · OCR" if view.ocr else "")
    name = Path(view.source).name
    if view.image is None:
        return (
            f'<figure class="rag-pageview" data-testid="rag-page-view"><figcaption>{esc(label)}: '
            f"{esc(view.problem or 'not available')}</figcaption></figure>"
        )
    marks = "".join(
        f'<span class="rag-page-mark" data-testid="rag-page-mark" style="left:{left * 100:.2f}%;'
        f"top:{top * 100:.2f}%;width:{(right - left) * 100:.2f}%;"
        f'height:{(bottom - top) * 100:.2f}%"></span>'
        for left, top, right, bottom in view.marks
    )
    note = view.problem or ("evidence marked" if view.marks else "no evidence to mark")
    return (
        f'<figure class="rag-pageview" data-testid="rag-page-view"><div class="rag-page-frame">'
        f'<img src="{view.image.uri}" width="{view.image.width}" height="{view.image.height}" '
        f'alt="{esc(label)} of {esc(name)}" data-testid="rag-page-image">{marks}</div>'
        f"<figcaption>{esc(label)} of {esc(name)} · {esc(note)}</figcaption></figure>"
    )
