"""What the tests share besides fixtures: the fixture corpus, the seed article's names,
`FakeGenerator` (a scripted model) and helpers for servers run in a subprocess. Import
from here (`from testkit import ...`): a test folder's own conftest.py can take the
module name `conftest`."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from rag.generation import GenerationStats

CI = os.environ.get("CI", "").lower() == "true"
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

SEED_NAME = "japan-osa-malaysia-visit.txt"
SEED_PHRASE = "Malaysia, the Philippines, Bangladesh, and Fiji"
# A fake model's reply that the fixture index supports, citing its first passage.
GOOD_REPLY = f"The first recipients of OSA are {SEED_PHRASE} [1]."
# Small, on-topic companions of the seed article for the end-to-end index.
E2E_COMPANIONS = (
    "2023-06-16-joint-readout-of-trilateral-meeting-between-the-national-security-advisors-"
    "of-the-united-states-japan-and-the.md",
    "2022-05-26-statement-by-national-security-advisor-jake-sullivan-on-fiji-joining-the-"
    "indo-pacific-economic-framework-for-prosperity.md",
    "2024-09-24-readout-of-president-joe-bidens-meeting-with-chief-adviser-muhammad-yunus-"
    "of-bangladesh.md",
)

# A small corpus on clearly separate topics, so the relevant passage is obvious.
FIXTURE_DOCS: dict[str, str] = {
    "osa.txt": (
        "Japan created Official Security Assistance (OSA) in 2023 to give defense equipment "
        "to partner militaries. The first recipients of OSA are Malaysia, the Philippines, "
        "Bangladesh, and Fiji. Each recipient receives a quarter of the 2 billion yen budget.\n\n"
        "Mr. Kishida announced the program after the National Security Strategy was revised."
    ),
    "yen.md": (
        "---\ntitle: The Yen and Currency Markets\ndate: 2024-05-01\n---\n\n"
        "The Japanese yen fell to its weakest level against the U.S. dollar in 34 years. "
        "Importers pay more for energy and food when the currency is weak.\n\n"
        "The Bank of Japan raised interest rates for the first time in 17 years."
    ),
    "coral.html": (
        "<html><head><title>Coral Reef Bleaching</title><style>p{color:red}</style></head>"
        "<body><h1>Coral Reef Bleaching</h1>"
        "<p>Coral reefs bleach when ocean water stays too warm for several weeks.</p>"
        "<p>The Great Barrier Reef suffered mass bleaching in 2016, 2017 and 2020.</p>"
        "<script>var tracking = 'do not index me';</script></body></html>"
    ),
    "quad.txt": (
        "The Quad is a partnership of Australia, India, Japan and the United States. "
        "Quad leaders pledged to deliver one billion vaccine doses to the Indo-Pacific."
    ),
    "bread.md": (
        "# Baking Sourdough Bread\n\n"
        "Sourdough bread rises with a starter of wild yeast and lactic acid bacteria. "
        "Bakers feed the starter with flour and water every day."
    ),
}


def write_corpus(directory: Path, docs: dict[str, str] | None = None) -> Path:
    """Write ``docs`` (name -> text) into ``directory`` and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (FIXTURE_DOCS if docs is None else docs).items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def normalize_ws(text: str) -> str:
    return " ".join(text.split())


class FakeGenerator:
    """Implements the `Generator` protocol with a canned reply, streamed word by word.

    ``reply`` may be a list: call i gets reply i (the last one repeats). A plain-text
    reply asked for with an evidence schema is wrapped as the evidence-first JSON
    (`evidence_reply`); ``judge`` is what `yes_probability` returns.
    """

    def __init__(self, reply: str | list[str], name: str = "fake-llm", judge: float = 0.9):
        self.replies = [reply] if isinstance(reply, str) else list(reply)
        self.reply = self.replies[0]
        self.name = name
        self.judge = judge
        self.last_stats = GenerationStats()
        self.calls: list[dict] = []
        self.judged: list[list[dict]] = []
        self.warmed = False

    def warm_up(self) -> None:
        self.warmed = True

    def stream_chat(
        self,
        messages: list[dict],
        max_tokens: int = 256,
        temperature: float = 0.0,
        schema: dict | None = None,
    ):
        self.calls.append(
            {
                "messages": messages,
                "max_tokens": max_tokens,
                "temperature": temperature,
                "schema": schema,
            }
        )
        reply = self.replies[min(len(self.calls) - 1, len(self.replies) - 1)]
        if schema is not None and not reply.lstrip().startswith("{"):
            reply = evidence_reply(reply, schema)
        self.calls[-1]["reply"] = reply  # what was streamed
        pieces = re.findall(r"\S+\s*", reply)
        yield from pieces
        self.last_stats = GenerationStats(prompt_tokens=100, completion_tokens=len(pieces))

    def yes_probability(self, messages: list[dict]) -> float:
        self.judged.append(messages)
        return self.judge


def evidence_reply(answer: str, schema: dict) -> str:
    """``answer`` as an evidence-first reply: the ids of the passages its [n] markers
    cite (the first two sentences of each; passage 1 without markers); none for a refusal."""
    from rag.prompt_safety import looks_like_refusal
    from rag.prompting import REFUSAL_TEXT

    ids = schema["properties"]["evidence"]["items"].get("enum", [])
    evidence: list[str] = []
    if answer.strip() and answer.strip() != REFUSAL_TEXT and not looks_like_refusal(answer):
        cited = re.findall(r"\[(\d+)\]", answer) or ["1"]
        for n in dict.fromkeys(cited):
            evidence += [i for i in ids if i.split(".")[0] == n][:2]
    return json.dumps({"evidence": evidence[:4], "answer": answer})


def open_index(settings) -> Iterator:
    """The `IndexStore` at ``settings.index_dir`` for a fixture to yield, closed after."""
    from rag.store import IndexStore

    store = IndexStore.load(settings.index_dir)
    yield store
    store.close()


# -- servers in a subprocess ---------------------------------------------------------------
def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the developer's RAG_* settings (the model cache may stay)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    if "RAG_MODEL_CACHE" in os.environ:
        env["RAG_MODEL_CACHE"] = os.environ["RAG_MODEL_CACHE"]
    env.update(GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    """Wait until ``url`` answers 200; fail with the end of ``log`` when ``proc`` exits or
    ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"server did not answer at {url}:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    """End ``proc``: terminate, and kill it when it does not exit in 15 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
