"""Evaluation harness for the `rag` pipeline (`rag eval`).

Modules, in data-flow order::

    sets     load a question set (osa, squad2-dev, clapnq-dev or a .jsonl path) and its corpus;
             one module per format in sets/formats/ registers its named sets
    systems  "ours" (RagPipeline, the code path of `rag ask`) and the LangChain baseline
    judge    support checks for citations: the local LLM as a yes/no judge, and a lexical check
    metrics  pure metric functions (retrieval, answer, citation, refusal, cost)
    runner   runs the systems over a set and scores every answer
    report   results.jsonl, summary.json, report.md, report.html and plots

See evals/README.md for the metric definitions.
"""

from evals.paths import EVALS_DIR, REPO_ROOT

__all__ = ["EVALS_DIR", "REPO_ROOT"]
