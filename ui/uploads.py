"""Checking and storing uploaded documents before they are ingested.

An upload is accepted only with an allowed extension, a size under the limit
and content that matches its type (PDF magic, DOCX zip, UTF-8 text). It is
stored under one project-controlled directory with a sanitized file name, so a
name like ``../../etc/passwd`` or ``C:\\x\\evil.pdf`` can never leave it.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

ALLOWED_SUFFIXES = (".pdf", ".docx", ".md", ".txt", ".html", ".htm")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_NAME_CHARS = 120


class UploadError(Exception):
    """An upload was rejected; the message is shown to the user."""


@dataclass
class StoredUpload:
    path: Path
    name: str  # the sanitized file name
    replaced: bool  # a file of that name was already there


def sanitize_filename(name: str) -> str:
    """A safe base name: no directories, no leading dots, only plain characters."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", str(name or "")))[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = re.sub(r"[^\w.\- ]+", "_", base).strip(" ._")
    base = re.sub(r"\s+", " ", base)
    base = re.sub(r"_+", "_", base)
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem.strip(" ._")[: MAX_NAME_CHARS - len(suffix) - 1] or "document"
    return f"{stem}.{suffix.lower()}" if suffix else stem


def check_upload(path: Path, name: str, max_bytes: int = MAX_UPLOAD_BYTES) -> str:
    """Validate an uploaded file; return its sanitized name or raise `UploadError`."""
    safe = sanitize_filename(name)
    suffix = Path(safe).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        allowed = ", ".join(ALLOWED_SUFFIXES)
        raise UploadError(f"{safe}: file type '{suffix or '(none)'}' is not allowed ({allowed})")
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UploadError(f"{safe}: cannot read the upload ({exc.strerror or exc})") from exc
    if size == 0:
        raise UploadError(f"{safe}: the file is empty")
    if size > max_bytes:
        raise UploadError(
            f"{safe}: too large ({size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB)"
        )
    with open(path, "rb") as fh:
        head = fh.read(8192)
    if suffix == ".pdf":
        if not head.startswith(b"%PDF-"):
            raise UploadError(f"{safe}: not a PDF file")
    elif suffix == ".docx":
        if not zipfile.is_zipfile(path):
            raise UploadError(f"{safe}: not a Word (.docx) file")
        with zipfile.ZipFile(path) as zf:
            if "word/document.xml" not in zf.namelist():
                raise UploadError(f"{safe}: not a Word (.docx) file")
    else:
        if b"\x00" in head:
            raise UploadError(f"{safe}: not a text file (binary content)")
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a multi-byte character cut at the end is fine
                raise UploadError(f"{safe}: not UTF-8 text") from exc
    return safe


def store_upload(
    path: Path, name: str, uploads_dir: Path, max_bytes: int = MAX_UPLOAD_BYTES
) -> StoredUpload:
    """Check ``path`` and copy it to ``uploads_dir`` under its sanitized name."""
    safe = check_upload(path, name, max_bytes)
    root = Path(uploads_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    target = (root / safe).resolve()
    if target.parent != root:  # cannot happen after sanitizing; checked anyway
        raise UploadError(f"{safe}: invalid file name")
    replaced = target.exists()
    tmp = target.with_name(f".{target.name}.part")
    shutil.copyfile(path, tmp)
    tmp.replace(target)
    return StoredUpload(target, safe, replaced)


def is_inside(path: str | Path, directory: Path) -> bool:
    """True when ``path`` resolves to a location inside ``directory``."""
    try:
        Path(path).resolve().relative_to(Path(directory).resolve())
    except ValueError:
        return False
    return True
