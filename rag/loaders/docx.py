"""Word documents (.docx): the text of every paragraph."""

from __future__ import annotations

import io
from pathlib import Path

from rag.loaders.common import Loaded, LoadError
from rag.loaders.text import normalize_text


def load_docx(data: bytes, path: Path) -> Loaded:
    """A DOCX; the title from its core properties, else the first Title/Heading paragraph."""
    import zipfile

    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoadError(f"corrupt or unreadable DOCX ({exc})") from exc
    except Exception as exc:
        raise LoadError(f"corrupt or unreadable DOCX ({type(exc).__name__})") from exc
    paragraphs = [" ".join(p.text.split()) for p in document.paragraphs]
    paragraphs = [p for p in paragraphs if p]
    title = (document.core_properties.title or "").strip()
    if not title:
        for p in document.paragraphs:
            if p.style is not None and p.style.name.lower().startswith(("title", "heading")):
                if p.text.strip():
                    title = p.text.strip()
                    break
    return title, normalize_text("\n\n".join(paragraphs)), [], None
