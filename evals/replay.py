"""Re-check a finished run without generating again: replay the model's drafts.

    python -m evals.replay RUN_DIR --out NEW_DIR [--config settings.yaml]

Generation is most of an eval's cost, but a change to the checks, the judge's
threshold or the calibration does not change what the model drafts: with greedy
decoding the same prompt gives the same reply. This runs the question set of
``RUN_DIR`` through today's pipeline (retrieval, context, checks, judge,
calibration) with a generator that streams back the reply recorded for each
question (the judge still asks the real model), and writes a normal report.

It is only valid while retrieval and the prompt are unchanged: a question whose
passages differ from the recorded ones, or whose recorded reply names sentence
ids the prompt no longer has, stops the replay with the question's id. Latency
figures of a replayed run are not comparable with a real run's (the report says
so); use it to compare check and calibration variants, then confirm with a run.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from rag.generation import GenerationStats


class ReplayError(RuntimeError):
    """The recorded run cannot be replayed with today's retrieval or prompt."""


class ReplayGenerator:
    """Streams the recorded draft of the question in the prompt; everything else
    (the judge, warm-up, follow-up rewriting) goes to the real model."""

    def __init__(self, replies: dict[str, str], judge_model):
        # longest question first: "What about X?" must not match inside a longer one
        self.replies = dict(sorted(replies.items(), key=lambda kv: -len(kv[0])))
        self.judge_model = judge_model
        self.name = judge_model.name
        self.last_stats = GenerationStats()
        self.replayed = 0

    def warm_up(self) -> None:
        self.judge_model.warm_up()

    def stream_chat(self, messages, max_tokens=256, temperature=0.0, schema=None):
        if schema is None:  # not an evidence-first draft (warm-up, rewriting): the real model
            yield from self.judge_model.stream_chat(messages, max_tokens, temperature)
            self.last_stats = self.judge_model.last_stats
            return
        prompt = messages[-1]["content"]
        reply = next((r for q, r in self.replies.items() if q in prompt), None)
        if reply is None:
            raise ReplayError(f"no recorded reply for the prompt: {prompt[-300:]!r}")
        allowed = set(schema["properties"]["evidence"]["items"].get("enum", []))
        named = set(re.findall(r'"(\d+\.\d+)"', reply.split('"answer"')[0]))
        if named - allowed:
            raise ReplayError(
                f"the recorded reply names {sorted(named - allowed)}, which today's prompt "
                "does not number: retrieval or context selection changed; run it again"
            )
        self.replayed += 1
        pieces = re.findall(r"\S+\s*|\s+", reply)
        yield from pieces
        self.last_stats = GenerationStats(prompt_tokens=0, completion_tokens=len(pieces))

    def yes_probability(self, messages) -> float:
        return self.judge_model.yes_probability(messages)


def recorded_replies(run_dir: Path) -> dict[str, str]:
    """Our recorded raw reply per prompt question (a follow-up's is its search query)."""
    from rag.prompt_safety import clean_question, defuse_control_tokens

    replies = {}
    for line in (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("system") == "ours" and record.get("raw_answer"):
            asked = clean_question(record.get("search_query") or record["question"])
            replies[defuse_control_tokens(asked)] = record["raw_answer"]  # as in the prompt
    if not replies:
        raise ReplayError(f"{run_dir}/results.jsonl has no recorded replies of ours")
    return replies


def stale_settings(recorded: dict, changes: dict) -> dict[str, tuple]:
    """Recorded settings that differ from today's defaults and that ``changes`` leaves
    alone: name -> (recorded value, today's default). A replay keeps the run's settings,
    so a default changed since (``reground_claims``) is not replayed unless set."""
    from rag.config import Settings

    defaults = Settings().to_dict()
    return {
        name: (value, defaults[name])
        for name, value in recorded.items()
        if name in defaults and name not in changes and value != defaults[name]
    }


def replay(run_dir: Path, out: Path, config: Path | None = None, judge: bool = False) -> dict:
    """Replay ``run_dir`` through today's checks; write the report to ``out``.

    ``judge``: score citations with the LLM judge too (both systems; slow).
    """
    import yaml

    from evals.runner import run_eval
    from evals.sets import load_set
    from rag.config import Settings
    from rag.pipeline import make_generator

    meta = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))["meta"]
    evalset = load_set(
        meta["set"],
        limit=meta.get("limit"),
        seed=meta.get("seed") or 0,
        split=meta.get("split") or "all",
    )
    changes = yaml.safe_load(config.read_text(encoding="utf-8")) if config else {}
    kept = stale_settings(meta["settings"], changes or {})
    if kept:  # the replay answers as the run did, not with a default changed since
        listed = ", ".join(f"{k}={v!r} (default now {d!r})" for k, (v, d) in kept.items())
        typer.echo(
            f"note: replaying with the recorded run's {listed}; set them in --config "
            "to replay with today's defaults",
            err=True,
        )
    settings = Settings.from_env(**{**meta["settings"], **(changes or {})})
    generator = ReplayGenerator(recorded_replies(run_dir), make_generator(settings))
    command = "python -m evals.replay " + shlex.join(sys.argv[1:])
    result = run_eval(
        evalset,
        settings,
        out,
        judge=judge,
        command=command,
        generator=generator,
        replayed_from={k: meta.get(k) for k in ("command", "date", "git_commit")},
        # the baseline's recorded answers are reused as they are (its code is unchanged)
        reuse_baseline=run_dir if "baseline" in meta.get("systems", []) else None,
    )
    return result


def main(
    run_dir: Annotated[Path, typer.Argument(help="report directory of an earlier run of ours")],
    out: Annotated[Path, typer.Option(help="where to write the replayed report")],
    config: Annotated[Path | None, typer.Option(help="YAML of settings to change")] = None,
    judge: Annotated[
        bool, typer.Option("--judge/--no-judge", help="LLM judge for citation support (slow)")
    ] = False,
) -> None:
    """Re-check a finished run's recorded drafts with today's checks and calibration."""
    try:
        replay(run_dir, out, config, judge)
    except ReplayError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


if __name__ == "__main__":
    typer.run(main)
