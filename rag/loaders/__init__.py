"""Turn files into `Document`s: .txt, .md, .html/.htm, .pdf, .docx (and, in
`rag.jsonl`, collections with one document per line: .jsonl, .jsonl.gz).

One module per format family (`text`, `html`, `pdf`, `docx`), each a function
``(bytes, path) -> (title, text, page starts, PDF pages)`` registered by suffix in
`rag.loaders.files.LOADERS`; `files` walks paths and reads them. Problems raise
`LoadError` with a short, specific reason; `iter_documents` turns those into
`Skipped` records so one bad file never stops a batch.
"""

from rag.loaders.common import LOADER_VERSION, Loaded, LoadError, Skipped, dated_title, display_path
from rag.loaders.files import (
    LOADERS,
    MAX_FILE_BYTES,
    SUPPORTED_SUFFIXES,
    discover_files,
    iter_documents,
    load_document,
    load_file,
    read_manifest_titles,
)
from rag.loaders.text import cap_punctuation_runs, decode_text, normalize_text, strip_inline_html

__all__ = [
    "LOADER_VERSION",
    "LOADERS",
    "MAX_FILE_BYTES",
    "SUPPORTED_SUFFIXES",
    "LoadError",
    "Loaded",
    "Skipped",
    "cap_punctuation_runs",
    "dated_title",
    "decode_text",
    "discover_files",
    "display_path",
    "iter_documents",
    "load_document",
    "load_file",
    "normalize_text",
    "read_manifest_titles",
    "strip_inline_html",
]
