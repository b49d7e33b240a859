"""Markdown tables from the run directories written by run.sh.

    python evals/reports/embedders/table.py evals/runs/embedders > tables.md

Also writes ``results.json`` beside this file: the figures of every run (the
summary.json files themselves stay in the git-ignored run directories).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHORT = {"all-MiniLM-L6-v2": "MiniLM-L6", "all-mpnet-base-v2": "mpnet-base"}
SUMMARY_KEYS = (
    "recall@k", "recall@5", "recall@10", "mrr@10", "ndcg@10", "retrieve_ms_p50",
    "retrieve_ms_p95", "early_refusal_answerable", "early_refusal_unanswerable",
    "top_score_answerable_p50", "top_score_unanswerable_p50", "refusal_threshold",
)  # fmt: skip


def load_runs(root: Path) -> list[dict]:
    runs = []
    for path in sorted(root.glob("*/summary.json")):
        data = json.loads(path.read_text())
        meta, ours = data["meta"], data["systems"]["ours"]
        if meta.get("mode") != "retrieval-only":
            continue
        runs.append(
            {
                "run": path.parent.name,
                "set": meta["set"],
                "questions": meta["questions"],
                "embedder": meta["embedder"],
                "retrieval": meta["retrieval"],
                "bm25_weight": meta["settings"].get("bm25_weight"),
                "top_k": meta["top_k"],
                "index_chunks": meta["index_chunks"],
                "index_s": meta["runtime_s"].get("index_s"),
                "load_mean": (meta["machine"].get("load_while_answering") or {}).get("mean"),
                "date": meta["date"],
                "command": meta["command"],
                **{key: ours.get(key) for key in SUMMARY_KEYS},
            }
        )
    return runs


def f3(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def f1(x) -> str:
    return "–" if x is None else f"{x:.1f}"


def table(runs: list[dict], set_name: str) -> str:
    rows = [r for r in runs if r["set"] == set_name]
    rows.sort(key=lambda r: (r["top_k"], r["retrieval"], r["embedder"] != "all-MiniLM-L6-v2"))
    lines = [
        "| embedder | retrieval | k | Recall@k | Recall@5 | Recall@10 | MRR@10 | nDCG@10 "
        "| query ms p50 | query ms p95 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {SHORT.get(r['embedder'], r['embedder'])} | {r['retrieval']} | {r['top_k']} "
            f"| {f3(r['recall@k'])} | {f3(r['recall@5'])} | {f3(r['recall@10'])} "
            f"| {f3(r['mrr@10'])} | {f3(r['ndcg@10'])} | {f1(r['retrieve_ms_p50'])} "
            f"| {f1(r['retrieve_ms_p95'])} |"
        )
    return "\n".join(lines)


def score_table(runs: list[dict]) -> str:
    lines = [
        "| set | embedder | best score p50, answerable | best score p50, unanswerable "
        "| answerable below threshold | unanswerable below threshold |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    seen = set()
    for r in runs:
        key = (r["set"], r["embedder"])
        if key in seen or r["retrieval"] != "dense":
            continue
        seen.add(key)
        lines.append(
            f"| {r['set']} | {SHORT.get(r['embedder'], r['embedder'])} "
            f"| {f3(r['top_score_answerable_p50'])} | {f3(r['top_score_unanswerable_p50'])} "
            f"| {f3(r['early_refusal_answerable'])} | {f3(r['early_refusal_unanswerable'])} |"
        )
    return "\n".join(lines)


def paired_table(root: Path, runs: list[dict], k: int = 4, seed: int = 0) -> str:
    """mpnet minus MiniLM per question (Recall@k, MRR@10), 95 % paired-bootstrap intervals."""
    import random

    def per_question(run: str) -> dict[str, dict]:
        lines = (root / run / "results.jsonl").read_text().splitlines()
        return {r["id"]: r["metrics"] for r in map(json.loads, lines)}

    lines = [
        f"| set | retrieval | ΔRecall@{k} [95 % CI] | ΔMRR@10 [95 % CI] "
        f"| questions mpnet better / worse (Recall@{k}) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for set_name in dict.fromkeys(r["set"] for r in runs):
        for mode in ("dense", "hybrid"):
            names = [
                f"{set_name}-{e}-{mode}-k{k}" for e in ("all-MiniLM-L6-v2", "all-mpnet-base-v2")
            ]
            if not all((root / n / "results.jsonl").is_file() for n in names):
                continue
            a, b = (per_question(n) for n in names)
            cells, counts = [], ""
            for metric in ("recall@k", "mrr@10"):
                ids = [i for i in a if a[i].get(metric) is not None]
                d = [b[i][metric] - a[i][metric] for i in ids]
                rng = random.Random(seed)
                boots = sorted(
                    sum(d[rng.randrange(len(d))] for _ in d) / len(d) for _ in range(5000)
                )
                cells.append(f"{sum(d) / len(d):+.3f} [{boots[124]:+.3f}, {boots[4875]:+.3f}]")
                if metric == "recall@k":
                    counts = f"{sum(x > 0 for x in d)} / {sum(x < 0 for x in d)}"
            lines.append(f"| {set_name} | {mode} | {cells[0]} | {cells[1]} | {counts} |")
    return "\n".join(lines)


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "evals/runs/embedders")
    runs = load_runs(root)
    (HERE / "results.json").write_text(json.dumps(runs, indent=1) + "\n")
    for set_name in dict.fromkeys(r["set"] for r in runs):
        n = next(r["questions"] for r in runs if r["set"] == set_name)
        print(f"### {set_name} ({n} questions)\n\n{table(runs, set_name)}\n")
    threshold = runs[0]["refusal_threshold"] if runs else None
    print(f"### Best-passage scores (dense; refusal threshold {threshold})\n")
    print(score_table(runs))
    print("\n### Paired differences, mpnet minus MiniLM (k = 4)\n")
    print(paired_table(root, runs))


if __name__ == "__main__":
    main()
