"""Upload checks: allowed types, size limit, content sniffing, safe names."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from ui.uploads import UploadError, check_upload, is_inside, sanitize_filename, store_upload


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\Windows\\evil.PDF", "evil.pdf"),
        ("/abs/path/notes.md", "notes.md"),
        (".hidden.md", "hidden.md"),
        ("..", "document"),
        ("a<script>b.html", "a_script_b.html"),
        ("nul\x00byte.txt", "nulbyte.txt"),
        ("日本の安全保障.txt", "日本の安全保障.txt"),
        ("x" * 300 + ".txt", "x" * 116 + ".txt"),
    ],
)
def test_sanitize_filename(name, expected):
    assert sanitize_filename(name) == expected


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_accepts_good_files(tmp_path):
    assert check_upload(_write(tmp_path / "a", b"Hello"), "a.txt") == "a.txt"
    assert check_upload(_write(tmp_path / "b", b"%PDF-1.7 ..."), "b.pdf") == "b.pdf"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("word/document.xml", "<w:document/>")
    assert check_upload(_write(tmp_path / "c", buf.getvalue()), "c.docx") == "c.docx"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("tool.exe", b"MZ...", "not allowed"),
        ("noext", b"hello", "not allowed"),
        ("../../etc/passwd", b"root:x:0:0", "not allowed"),
        ("fake.pdf", b"<html>not a pdf</html>", "not a PDF"),
        ("fake.docx", b"plain text", "not a Word"),
        ("bin.txt", b"abc\x00\x01\x02", "binary"),
        ("latin1.md", "café au lait".encode("latin-1") + b" and more text", "not UTF-8"),
        ("empty.txt", b"", "empty"),
    ],
)
def test_rejects_bad_files(tmp_path, name, data, message):
    with pytest.raises(UploadError, match=message):
        check_upload(_write(tmp_path / "upload", data), name)


def test_rejects_too_big(tmp_path):
    path = _write(tmp_path / "big", b"x" * 2048)
    with pytest.raises(UploadError, match="too large"):
        check_upload(path, "big.txt", max_bytes=1024)


def test_store_upload_stays_inside_the_uploads_dir(tmp_path):
    uploads = tmp_path / "uploads"
    src = _write(tmp_path / "src", b"fact")
    stored = store_upload(src, "../../../outside.txt", uploads)
    assert stored.path == (uploads / "outside.txt").resolve()
    assert stored.path.read_bytes() == b"fact" and not stored.replaced
    assert not (tmp_path / "outside.txt").exists()
    again = store_upload(_write(tmp_path / "src2", b"new fact"), "outside.txt", uploads)
    assert again.replaced and again.path.read_bytes() == b"new fact"
    assert sorted(p.name for p in uploads.iterdir()) == ["outside.txt"]  # no temp files left
    assert is_inside(stored.path, uploads)
    assert not is_inside(uploads / ".." / "x.txt", uploads)
