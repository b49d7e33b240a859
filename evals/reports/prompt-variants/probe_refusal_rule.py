"""The probe behind README.md: one question, six prompt forms, the model's replies.

Usage: python evals/reports/prompt-variants/probe_refusal_rule.py osa-023 osa-017 osa-039
(uses the osa eval index that `rag eval --set osa` built most recently).
"""

import json
import sys
from pathlib import Path

import rag.prompting as P
from rag.config import Settings
from rag.context import select_context
from rag.pipeline import RagPipeline, prompt_safe_hits

questions = {}
for line in open("evals/sets/osa.jsonl", encoding="utf-8"):
    row = json.loads(line)
    questions[row["id"]] = row["question"]
index = max(Path(".rag/eval-index").glob("osa-????????????"), key=lambda p: p.stat().st_mtime)
settings = Settings.from_env(index_dir=index)
pipe = RagPipeline(settings)
generator = pipe.generator
rule = f'If no passage contains the answer, reply exactly: "{P.REFUSAL_TEXT}"'
without_rule = P.ANSWER_ONLY_PROMPT

for qid in sys.argv[1:]:
    q = questions[qid]
    candidates = pipe.retrieve(q, settings.context_pool)
    context = select_context(q, candidates, pipe.embedder, settings.context_chars, settings.top_k)
    passages = P.format_passages(prompt_safe_hits([c.as_hit() for c in context]))
    plain = f"Passages:\n\n{passages}\n\nQuestion: {q}"
    forms = {
        "current": (P.SYSTEM_PROMPT, plain),
        "no gap marks": (P.SYSTEM_PROMPT, plain.replace("… ", "").replace(" …", "")),
        "no rule": (without_rule, plain),
        "question first": (P.SYSTEM_PROMPT, f"Question: {q}\n\n{plain}"),
        "rule in user turn": (without_rule, f"{plain}\n\n{rule}"),
        "Answer: cue": (P.SYSTEM_PROMPT, f"{plain}\nAnswer:"),
    }
    for name, (system, user) in forms.items():
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        reply = "".join(generator.stream_chat(messages, 50, 0.0)).strip()
        print(qid, f"{name:18s}", repr(reply[:120]), flush=True)
