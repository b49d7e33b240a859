#!/usr/bin/env bash
# Reproduce the figures of evals/reports/embedders/README.md (issue #6).
#
#   evals/reports/embedders/run.sh ingest     # full `rag ingest corpus/` per embedder
#   evals/reports/embedders/run.sh throughput # embedding speed, both models in one process
#   evals/reports/embedders/run.sh osa        # retrieval-only grid on the osa set
#   evals/reports/embedders/run.sh external   # squad2-dev and clapnq-dev, --limit 300
#   evals/reports/embedders/run.sh table      # the Markdown tables from the run directories
#
# Run directories go to $OUT (default evals/runs/embedders/, git-ignored).
# all-mpnet-base-v2 needs `rag models install all-mpnet-base-v2` first.
set -euo pipefail
cd "$(dirname "$0")/../../.."
# shellcheck disable=SC1091
. .venv/bin/activate
OUT="${OUT:-evals/runs/embedders}"
EMBEDDERS="${EMBEDDERS:-all-MiniLM-L6-v2 all-mpnet-base-v2}"
mkdir -p "$OUT"

ingest() {
  for e in $EMBEDDERS; do
    idx="$(mktemp -d)/index"
    /usr/bin/time -f "wall_s=%e max_rss_kb=%M user_s=%U sys_s=%S" -o "$OUT/ingest-$e.time" \
      rag ingest corpus --index-dir "$idx" --embedder "$e" --quiet | tee "$OUT/ingest-$e.txt"
    du -sbL "$idx/current" | cut -f1 > "$OUT/ingest-$e.bytes"
    uptime >> "$OUT/ingest-$e.time"
    cat "$OUT/ingest-$e.time"
    rm -rf "$(dirname "$idx")"
  done
}

throughput() {
  python evals/reports/embedders/throughput.py | tee "$OUT/throughput.json"
}

grid() {  # set, extra args...
  local set="$1"
  shift
  for e in $EMBEDDERS; do
    for mode in dense hybrid; do
      for k in "$@"; do
        rag eval --set "$set" --retrieval-only --embedder "$e" --retrieval "$mode" --k "$k" \
          --quiet --out "$OUT/$set-$e-$mode-k$k" ${LIMIT:+--limit "$LIMIT"}
      done
    done
  done
}

case "${1:-}" in
  ingest) ingest ;;
  throughput) throughput ;;
  osa) grid osa 4 5 8 ;;
  external) LIMIT=300 grid squad2-dev 4 8 && LIMIT=300 grid clapnq-dev 4 8 ;;
  table) python evals/reports/embedders/table.py "$OUT" ;;
  *) echo "usage: $0 ingest|throughput|osa|external|table" >&2; exit 2 ;;
esac
