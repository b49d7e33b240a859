"""``python -m evals.report DIR ...`` rebuilds reports; ``--headline DIR ...`` prints one
Markdown table over several runs."""

import sys
from pathlib import Path

from evals.report import headline_markdown, rerender

args = sys.argv[1:]
if args[:1] == ["--headline"]:
    print(headline_markdown([Path(a) for a in args[1:]]))
else:
    for arg in args:
        print(rerender(Path(arg)))
