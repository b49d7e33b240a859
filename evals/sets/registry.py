"""The registry of named question sets, sampling and the dev/test split.

Each module of `evals.sets.formats` reads one format and registers the named sets
it serves with `register`; `load_set` looks a name up here (a path to a ``.jsonl``
file is read as a JSON-lines set), samples it and keeps one split.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evals.sets.cache import shared_dir
from evals.sets.model import EvalSet, EvalSetError


@dataclass(frozen=True)
class SetSource:
    """What a loader may read: the shared data directory and a ``--corpus`` override."""

    data_dir: Path
    corpus: Path | None = None


@dataclass(frozen=True)
class SetLoader:
    name: str
    load: Callable[[SetSource], EvalSet]
    default_limit: int | None = None  # questions sampled without --limit (None: all)


_LOADERS: dict[str, SetLoader] = {}


def register(name: str, default_limit: int | None = None):
    """Decorator: ``load(source) -> EvalSet`` serves the named set ``name``."""

    def add(load: Callable[[SetSource], EvalSet]) -> Callable[[SetSource], EvalSet]:
        if name in _LOADERS:
            raise ValueError(f"question set {name!r} is registered twice")
        _LOADERS[name] = SetLoader(name, load, default_limit)
        return load

    return add


def loaders() -> dict[str, SetLoader]:
    """Every registered set, after importing each module of `evals.sets.formats` once."""
    from evals.sets import formats

    for module in pkgutil.iter_modules(formats.__path__):
        importlib.import_module(f"{formats.__name__}.{module.name}")
    return _LOADERS


def sample(items: list, limit: int | None, seed: int) -> list:
    """A fixed-seed random sample of ``limit`` items, kept in their original order."""
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 0:
        raise EvalSetError(f"--limit must be >= 0, got {limit}")
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]


SPLITS = {
    "all": "every question",
    "dev": "questions whose id hashes to an even first SHA-1 byte (tuning)",
    "test": "questions whose id hashes to an odd first SHA-1 byte (held out)",
}


def in_split(question_id: str, split: str) -> bool:
    """Fixed dev/test halves of any set, by a hash of the question id: settings are
    tuned on "dev" and reported on "test", which tuning never saw."""
    if split == "all":
        return True
    even = hashlib.sha1(question_id.encode("utf-8")).digest()[0] % 2 == 0
    return even if split == "dev" else not even


def load_set(
    name_or_path: str,
    limit: int | None = None,
    seed: int = 0,
    data_dir: Path | str | None = None,
    corpus: Path | str | None = None,
    split: str = "all",
) -> EvalSet:
    """Load a named set or a JSON-lines file, sampled to ``limit`` questions with ``seed``
    (default: the set's own default), then restricted to ``split`` (see `in_split`)."""
    if split not in SPLITS:
        raise EvalSetError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    corpus = Path(corpus) if corpus is not None else None
    known = loaders()
    if name_or_path in known:
        loader = known[name_or_path]
        evalset = loader.load(SetSource(shared_dir(data_dir), corpus))
        if limit is None:
            limit = loader.default_limit
    elif Path(name_or_path).is_file():
        from evals.sets.formats.jsonl import load_jsonl_set

        evalset = load_jsonl_set(Path(name_or_path), corpus)
    else:
        raise EvalSetError(
            f"unknown question set '{name_or_path}': not one of {', '.join(known)} "
            "and not a .jsonl file"
        )
    evalset.total = len(evalset.questions)
    evalset.questions = sample(evalset.questions, limit, seed)
    evalset.limit = limit
    evalset.seed = seed
    if split != "all":
        evalset.questions = [q for q in evalset.questions if in_split(q.id, split)]
        evalset.description += f" [{split} split: {SPLITS[split]}]"
    evalset.split = split
    if not evalset.questions:
        raise EvalSetError(f"question set '{name_or_path}' has no questions to run")
    return evalset
