"""Fixed locations inside the repository."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
EVALS_DIR = Path(__file__).resolve().parent


def relative(path: Path | str) -> str:
    """``path`` relative to the repository when inside it (reports name no machine paths)."""
    path = Path(path).resolve()
    try:
        return path.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)
