#!/usr/bin/env bash
# Set up what is missing and run the test suite (tiny model, small fixtures).
# Extra arguments go to pytest, e.g. ./scripts/test.sh -k loaders
# The slow end-to-end checks with the default model: ./scripts/test.sh -m slow
# Under CI=true the default model is installed too and the `ci_model` checks run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# CI runs the Ray tests too (tests/distributed): it installs the ray extra.
if [ "${CI:-}" = "true" ]; then
  case ",${RAG_EXTRAS:-}," in
    *,ray,*) ;;
    *) export RAG_EXTRAS="${RAG_EXTRAS:+$RAG_EXTRAS,}ray" ;;
  esac
fi
# shellcheck source=bootstrap.sh
. "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
# Headless browser for the UI tests: Debian's chromium (Playwright's own download cannot work offline).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "==> installing chromium for the browser tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; browser tests will be skipped"
fi
rag models install smollm2-135m >/dev/null
# CI also checks answer quality with the default model (tests marked `ci_model`).
if [ "${CI:-}" = "true" ]; then
  rag models install qwen2.5-1.5b >/dev/null
fi
exec python -m pytest "$@"
