"""Question sets and their corpora.

- `evals.sets.model`: `Question`, `Gold` (a gold passage by id or quote), `EvalSet`.
- `evals.sets.registry`: `load_set` (a named set or a ``.jsonl`` path), sampling,
  the fixed dev/test split (`in_split`).
- `evals.sets.formats`: one module per format, each registering its named sets:
  ``jsonl`` (the JSON-lines format; ``osa``, ``osa-heldout``, ``osa-heldout2``,
  ``osa-heldout3``, ``osa-heldout4``, ``osa-heldout5``, ``osa-heldout6``,
  ``osa-heldout7``, ``osa-heldout8``, ``osa-heldout9``, ``osa-followups``),
  ``squad2`` (``squad2-dev``, ``squad2-calibration``), ``clapnq`` (``clapnq-dev``).
- `evals.sets.cache`: the shared data directory, the eval corpus and index cache.

The bundled sets' data (``*.jsonl``) and their checker (``check_osa_set.py``) live
beside these modules in ``evals/sets/``.
"""

from evals.sets.cache import cache_dir, ensure_index, eval_index_dir, shared_dir, write_passages
from evals.sets.formats.jsonl import load_jsonl_set, parse_gold
from evals.sets.model import EvalSet, EvalSetError, Gold, Question, normalize_passage_text
from evals.sets.registry import SPLITS, in_split, load_set, loaders, register, sample

__all__ = [
    "SPLITS",
    "EvalSet",
    "EvalSetError",
    "Gold",
    "Question",
    "cache_dir",
    "ensure_index",
    "eval_index_dir",
    "in_split",
    "load_jsonl_set",
    "load_set",
    "loaders",
    "normalize_passage_text",
    "parse_gold",
    "register",
    "sample",
    "shared_dir",
    "write_passages",
]
