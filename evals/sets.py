"""Question sets and their corpora.

A question set is a JSON-lines file, one question per line::

    {"id": "q1", "question": "...", "answerable": true,
     "answers": ["..."],                      # optional: gold answers (any one counts)
     "keywords": ["..."],                     # optional: all must appear in the answer
     "gold_passages": ["doc-id", {"source": "file.md", "quote": "exact text"}],  # optional
     "corpus": "path/to/corpus",              # optional, relative to the set file
     "history": [{"question": "...", "answer": "..."}],  # optional: earlier turns
     "standalone": "..."}                     # optional: the follow-up asked on its own

With ``history`` the question is a follow-up: our system rewrites it from the
earlier questions (as the chat UI does) before retrieving; ``standalone`` is the
question a person would ask without the conversation, the reference for the
rewrite (``query_keyword_recall``).

A gold passage is either an id (the corpus file name, with or without its
extension) or a quote: text that must appear in a retrieved chunk (whitespace and
case are ignored, because the loaders unwrap hard-wrapped lines), optionally
restricted to one ``source`` file.

Named sets:

- ``osa``: ``evals/sets/osa.jsonl`` over the bundled ``corpus/``.
- ``osa-heldout``: ``evals/sets/osa_heldout.jsonl`` (ids ``ho-001``...), same schema and
  corpus as ``osa``; written before any tuning for it and never used for tuning.
- ``osa-followups``: ``evals/sets/osa_followups.jsonl``, short conversations over the
  bundled ``corpus/`` whose last question is a follow-up (``history``, ``standalone``).
- ``squad2-dev``: SQuAD 2.0 dev from ``<data-dir>/evals/squad2_dev/``; every
  paragraph becomes one corpus file; unanswerable questions test refusal.
- ``clapnq-dev``: ClapNQ dev (answerable + unanswerable) from
  ``<data-dir>/evals/clapnq_dev/``; the referenced passages plus the candidate
  passages of the unanswerable questions become the corpus.

``<data-dir>`` is ``--data-dir``, else ``RAG_SHARED_DIR``, else ``../shared``
next to the repository. External corpora are written as ``.txt`` files (one per
passage, named by passage id) under ``.rag/eval-corpus/<set>/`` and indexed into
``.rag/eval-index/<set>-<content hash>/``, so the user's ``index/`` is never touched.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from evals.paths import EVALS_DIR, REPO_ROOT

NAMED_SETS = (
    "osa",
    "osa-heldout",
    "osa-followups",
    "squad2-dev",
    "clapnq-dev",
    "squad2-calibration",
)
BUNDLED_SETS = {  # name -> (file in evals/sets/, description); corpus: the bundled corpus/
    "osa": ("osa.jsonl", "OSA / ASEAN questions over the bundled corpus/"),
    "osa-heldout": (
        "osa_heldout.jsonl",
        "held-out OSA / ASEAN questions (never used for tuning) over the bundled corpus/",
    ),
    "osa-followups": (
        "osa_followups.jsonl",
        "OSA / ASEAN follow-up questions (1-2 earlier turns) over the bundled corpus/",
    ),
}
DEFAULT_EXTERNAL_LIMIT = 300


class EvalSetError(Exception):
    """A question set or its data is missing or malformed; the message says which."""


# -- gold passages --------------------------------------------------------------------

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})


def normalize_passage_text(text: str) -> str:
    """Lowercase, straighten quotes and collapse whitespace (for quote matching)."""
    return " ".join(text.translate(_QUOTES).split()).lower()


@dataclass
class Gold:
    """One gold passage: by ``doc_id`` (corpus file stem) or by ``quote`` (+ optional source)."""

    label: str
    doc_id: str | None = None
    source: str | None = None
    quote: str | None = None

    def __post_init__(self) -> None:
        self._norm_quote = normalize_passage_text(self.quote) if self.quote else None

    def matches(self, text: str, source: str) -> bool:
        """True when a chunk with this ``text`` from file ``source`` contains the gold passage."""
        name = Path(source).name
        if self.doc_id is not None:
            return self.doc_id in (name, Path(source).stem)
        if self.source is not None and name != self.source:
            return False
        return bool(self._norm_quote) and self._norm_quote in normalize_passage_text(text)

    def to_dict(self) -> dict:
        d = {"label": self.label}
        for key in ("doc_id", "source", "quote"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        return d


@dataclass
class Question:
    id: str
    question: str
    answerable: bool
    answers: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    gold: list[Gold] = field(default_factory=list)
    type: str | None = None
    history: list[dict] = field(default_factory=list)  # earlier turns: {question, answer}
    standalone: str | None = None  # the follow-up as a question on its own
    near_miss: list[Gold] = field(default_factory=list)  # passages that seem to answer, but don't

    def gold_dict(self) -> dict:
        d = {
            "answers": self.answers,
            "keywords": self.keywords,
            "passages": [g.to_dict() for g in self.gold],
        }
        if self.near_miss:
            d["near_miss"] = [g.to_dict() for g in self.near_miss]
        return d


@dataclass
class EvalSet:
    """Questions plus the corpus they are asked against."""

    name: str
    questions: list[Question]
    corpus_dir: Path
    description: str = ""
    total: int = 0  # questions in the full set, before sampling
    limit: int | None = None
    seed: int = 0
    split: str = "all"  # "dev" or "test": a fixed half (see in_split)

    @property
    def answerable(self) -> list[Question]:
        return [q for q in self.questions if q.answerable]

    @property
    def unanswerable(self) -> list[Question]:
        return [q for q in self.questions if not q.answerable]


# -- locations ------------------------------------------------------------------------


def shared_dir(data_dir: Path | str | None = None) -> Path:
    """The shared read-only data directory (``--data-dir``, ``RAG_SHARED_DIR``, ``../shared``)."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get("RAG_SHARED_DIR")
    if env:
        return Path(env).expanduser()
    return (REPO_ROOT / ".." / "shared").resolve()


def cache_dir() -> Path:
    """Where eval corpora and indexes are cached (``RAG_EVAL_CACHE``, default ``.rag/``)."""
    env = os.environ.get("RAG_EVAL_CACHE")
    return Path(env).expanduser() if env else REPO_ROOT / ".rag"


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise EvalSetError(
            f"{what} not found at {path}. The external eval sets live in the shared data "
            "directory (../shared next to the repository); point to it with --data-dir "
            "or RAG_SHARED_DIR."
        )
    return path


# -- sampling -------------------------------------------------------------------------


def sample(items: list, limit: int | None, seed: int) -> list:
    """A fixed-seed random sample of ``limit`` items, kept in their original order."""
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 0:
        raise EvalSetError(f"--limit must be >= 0, got {limit}")
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]


# -- loading --------------------------------------------------------------------------


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


CALIBRATION_SET = "squad2-calibration"


def load_set(
    name_or_path: str,
    limit: int | None = None,
    seed: int = 0,
    data_dir: Path | str | None = None,
    corpus: Path | str | None = None,
    split: str = "all",
) -> EvalSet:
    """Load a named set or a JSON-lines file, sampled to ``limit`` questions with ``seed``,
    then restricted to ``split`` ("all", "dev" or "test", see `in_split`)."""
    if split not in SPLITS:
        raise EvalSetError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    if name_or_path in BUNDLED_SETS:
        filename, description = BUNDLED_SETS[name_or_path]
        path = EVALS_DIR / "sets" / filename
        if not path.exists():
            raise EvalSetError(f"the {name_or_path} question set is missing: {path}")
        evalset = load_jsonl_set(path, corpus or REPO_ROOT / "corpus", name=name_or_path)
        evalset.description = description
    elif name_or_path == "squad2-dev":
        evalset = load_squad2(shared_dir(data_dir), limit=None)
    elif name_or_path == CALIBRATION_SET:
        # SQuAD 2.0 dev minus the reported fixed-seed sample: data to fit the
        # abstention model on that no report is computed from.
        evalset = load_squad2(shared_dir(data_dir), limit=None)
        reported = {q.id for q in sample(evalset.questions, DEFAULT_EXTERNAL_LIMIT, 0)}
        evalset.questions = [q for q in evalset.questions if q.id not in reported]
        evalset.name = CALIBRATION_SET
        evalset.description = (
            f"SQuAD 2.0 dev without the {DEFAULT_EXTERNAL_LIMIT}-question seed-0 sample "
            "that squad2-dev reports (for fitting rag/calibration.json only)"
        )
    elif name_or_path == "clapnq-dev":
        evalset = load_clapnq(shared_dir(data_dir), limit=None)
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise EvalSetError(
                f"unknown question set '{name_or_path}': not one of {', '.join(NAMED_SETS)} "
                "and not a .jsonl file"
            )
        evalset = load_jsonl_set(path, corpus)
    if limit is None and name_or_path in ("squad2-dev", "clapnq-dev", CALIBRATION_SET):
        limit = DEFAULT_EXTERNAL_LIMIT
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


def _corpus_names(corpus_dir: Path) -> set[str]:
    if not corpus_dir.is_dir():
        return set()
    names = set()
    for p in corpus_dir.rglob("*"):
        if p.is_file():
            names.update({p.name, p.stem})
    return names


def parse_gold(items: list, corpus_names: set[str]) -> list[Gold]:
    """Gold passages from ids, quotes or ``{source, quote}`` / ``{id}`` objects."""
    golds = []
    for i, item in enumerate(items or []):
        label = f"g{i}"
        if isinstance(item, str):
            if item in corpus_names:
                golds.append(Gold(label, doc_id=Path(item).stem if "." in item else item))
            else:
                golds.append(Gold(label, quote=item))
        elif isinstance(item, dict):
            if item.get("id") is not None:
                golds.append(Gold(label, doc_id=str(item["id"])))
            elif item.get("quote"):
                golds.append(Gold(label, source=item.get("source"), quote=str(item["quote"])))
            elif item.get("source"):
                golds.append(Gold(label, doc_id=Path(str(item["source"])).name))
            else:
                raise EvalSetError(f"gold passage {item!r} has no id, quote or source")
        else:
            raise EvalSetError(f"gold passage {item!r} must be a string or an object")
    return golds


def parse_history(items, where: str) -> list[dict]:
    """Earlier turns of a follow-up: ``[{"question": str, "answer": str (optional)}]``."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise EvalSetError(f"{where}: 'history' must be a list of turns")
    turns = []
    for turn in items:
        if not isinstance(turn, dict) or not str(turn.get("question") or "").strip():
            raise EvalSetError(f"{where}: every history turn needs a 'question'")
        turns.append({"question": str(turn["question"]), "answer": str(turn.get("answer") or "")})
    return turns


def load_jsonl_set(
    path: Path, corpus: Path | str | None = None, name: str | None = None
) -> EvalSet:
    """Read a JSON-lines question set; ``corpus`` overrides the file's own ``corpus`` field."""
    path = Path(path)
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalSetError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc
        for key in ("id", "question"):
            if key not in row:
                raise EvalSetError(f"{path}:{lineno}: missing '{key}'")
        rows.append(row)
    corpora = {r["corpus"] for r in rows if r.get("corpus")}
    if corpus is None:
        if len(corpora) > 1:
            raise EvalSetError(f"{path}: questions name different corpora {sorted(corpora)}")
        corpus = (path.parent / corpora.pop()) if corpora else REPO_ROOT / "corpus"
    corpus_dir = Path(corpus)
    if not corpus_dir.exists():
        raise EvalSetError(f"corpus {corpus_dir} of question set {path} does not exist")
    names = _corpus_names(corpus_dir)
    questions = []
    seen: set[str] = set()
    for row in rows:
        qid = str(row["id"])
        if qid in seen:
            raise EvalSetError(f"{path}: duplicate question id {qid!r}")
        seen.add(qid)
        answers = [str(a) for a in row.get("answers") or []]
        answerable = bool(row.get("answerable", bool(answers)))
        questions.append(
            Question(
                id=qid,
                question=str(row["question"]),
                answerable=answerable,
                answers=answers,
                keywords=[str(k) for k in row.get("keywords") or []],
                gold=parse_gold(row.get("gold_passages") or [], names),
                type=row.get("type") or ("answerable" if answerable else "unanswerable"),
                history=parse_history(row.get("history"), f"{path}: question {qid}"),
                standalone=str(row["standalone"]) if row.get("standalone") else None,
                near_miss=parse_gold(row.get("near_miss") or [], names),
            )
        )
    return EvalSet(name or path.stem, questions, corpus_dir, description=f"questions from {path}")


# -- external sets ----------------------------------------------------------------------


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def write_passages(target: Path, passages: dict[str, tuple[str, str]]) -> Path:
    """Write one ``<id>.txt`` per passage (YAML front matter holds the title).

    Files are rewritten only when their content changes; files of passages no
    longer present are removed. Returns ``target``.
    """
    target.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for pid, (title, text) in passages.items():
        name = f"{_safe_id(pid)}.txt"
        wanted.add(name)
        body = f"---\ntitle: {json.dumps(title, ensure_ascii=False)}\n---\n{text.strip()}\n"
        path = target / name
        if not path.exists() or path.read_text(encoding="utf-8") != body:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(body, encoding="utf-8")
            os.replace(tmp, path)
    for stale in target.glob("*.txt"):
        if stale.name not in wanted:
            stale.unlink()
    return target


def load_squad2(
    data_dir: Path, limit: int | None = DEFAULT_EXTERNAL_LIMIT, seed: int = 0
) -> EvalSet:
    """SQuAD 2.0 dev: every paragraph is a corpus file ``squad-AA-PPP.txt``."""
    path = _require(data_dir / "evals" / "squad2_dev" / "dev-v2.0.json", "SQuAD 2.0 dev")
    data = json.loads(path.read_text(encoding="utf-8"))
    passages: dict[str, tuple[str, str]] = {}
    questions: list[Question] = []
    for a, article in enumerate(data["data"]):
        title = article["title"].replace("_", " ")
        for p, para in enumerate(article["paragraphs"]):
            pid = f"squad-{a:02d}-{p:03d}"
            passages[pid] = (title, para["context"])
            for qa in para["qas"]:
                impossible = bool(qa.get("is_impossible"))
                answers = list(dict.fromkeys(x["text"] for x in qa.get("answers", [])))
                questions.append(
                    Question(
                        id=qa["id"],
                        question=qa["question"],
                        answerable=not impossible,
                        answers=[] if impossible else answers,
                        gold=[] if impossible else [Gold("g0", doc_id=pid)],
                        type="unanswerable" if impossible else "answerable",
                    )
                )
    corpus = write_passages(cache_dir() / "eval-corpus" / "squad2-dev", passages)
    evalset = EvalSet(
        "squad2-dev",
        questions,
        corpus,
        description=f"SQuAD 2.0 dev ({path}); corpus = its {len(passages)} paragraphs",
        total=len(questions),
    )
    evalset.questions = sample(questions, limit, seed)
    return evalset


def load_clapnq(
    data_dir: Path, limit: int | None = DEFAULT_EXTERNAL_LIMIT, seed: int = 0
) -> EvalSet:
    """ClapNQ dev: 300 answerable + 300 unanswerable questions over their passages.

    The corpus is the 293 referenced gold passages plus the (distinct) candidate
    passage of each unanswerable question, which does not answer it.
    """
    root = _require(data_dir / "evals" / "clapnq_dev", "ClapNQ dev")
    passages: dict[str, tuple[str, str]] = {}
    texts: set[str] = set()
    with open(root / "passages_dev_referenced.tsv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            passages[row["id"]] = (row["title"], row["text"])
            texts.add(normalize_passage_text(row["text"]))
    gold_ids: dict[str, str] = {}
    with open(root / "question_dev_answerable.tsv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            gold_ids[row["id"]] = row["doc-id-list"].split(",")[0].strip()

    questions: list[Question] = []
    for fname, answerable in (
        ("clapnq_dev_answerable.jsonl", True),
        ("clapnq_dev_unanswerable.jsonl", False),
    ):
        for line in (root / fname).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            answers = [o["answer"] for o in row.get("output", []) if o.get("answer", "").strip()]
            if not answerable:
                for i, psg in enumerate(row.get("passages", [])):
                    norm = normalize_passage_text(psg["text"])
                    if norm not in texts:
                        texts.add(norm)
                        passages[f"unans-{_safe_id(row['id'])}-{i}"] = (psg["title"], psg["text"])
            gold = []
            if answerable and row["id"] in gold_ids:
                gold = [Gold("g0", doc_id=_safe_id(gold_ids[row["id"]]))]
            questions.append(
                Question(
                    id=row["id"],
                    question=row["input"],
                    answerable=answerable and bool(answers),
                    answers=answers if answerable else [],
                    gold=gold,
                    type="answerable" if answerable else "unanswerable",
                )
            )
    corpus = write_passages(cache_dir() / "eval-corpus" / "clapnq-dev", passages)
    evalset = EvalSet(
        "clapnq-dev",
        questions,
        corpus,
        description=(
            f"ClapNQ dev ({root}); corpus = {len(passages)} passages "
            "(referenced gold passages + unanswerable candidates)"
        ),
        total=len(questions),
    )
    evalset.questions = sample(questions, limit, seed)
    return evalset


# -- indexing -------------------------------------------------------------------------


def corpus_fingerprint(corpus_dir: Path, settings) -> str:
    """Hash of the corpus files (names and bytes) and the settings that shape the index."""
    from rag.ingest import chunking_settings
    from rag.loaders import LOADER_VERSION, discover_files

    digest = hashlib.sha256()
    shape = [settings.embedder, chunking_settings(settings), LOADER_VERSION]
    if settings.index_type != "auto":  # "auto" keeps the hashes of existing caches
        shape.append(settings.index_type)
    digest.update(json.dumps(shape).encode())
    files = [p for p in discover_files([corpus_dir]) if isinstance(p, Path)]
    for path in sorted(files, key=lambda p: p.relative_to(corpus_dir).as_posix()):
        digest.update(path.relative_to(corpus_dir).as_posix().encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:12]


def eval_index_dir(evalset: EvalSet, settings) -> Path:
    """``.rag/eval-index/<set>-<hash>/``: one cached index per corpus content."""
    return (
        cache_dir()
        / "eval-index"
        / f"{_safe_id(evalset.name)}-{corpus_fingerprint(evalset.corpus_dir, settings)}"
    )


def ensure_index(evalset: EvalSet, settings, progress: bool = True, embedder=None):
    """Index the set's corpus into its cached eval index; return settings pointing at it."""
    from rag.ingest import ingest

    index_dir = eval_index_dir(evalset, settings)
    eval_settings = settings.replace(index_dir=index_dir, corpus_dir=evalset.corpus_dir)
    report = ingest(
        [evalset.corpus_dir],
        eval_settings,
        prune=True,
        embedder=embedder,
        progress=progress,
        lock_wait_seconds=600,
    )
    return eval_settings, report
