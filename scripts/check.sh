#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then runs tests
# (including PostgreSQL on loopback), ruff, mypy --strict, the docs build and the examples.
# Debian packages it installs when missing: postgresql, graphviz, chromium,
# libreoffice-calc-nogui.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'

# PostgreSQL binaries for the store tests; the tests start their own throw-away server.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  echo "== installing PostgreSQL"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi

# Graphviz draws the docs' diagrams (dot -Tsvg at build time); headless Chromium checks
# that the built docs show them (tests/test_docs_offline.py).
if ! command -v dot >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  echo "== installing graphviz and chromium"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq graphviz chromium >/dev/null
fi

# LibreOffice opens the report workbook in a test (soffice --headless --convert-to csv).
if ! command -v soffice >/dev/null 2>&1; then
  echo "== installing libreoffice-calc-nogui"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    libreoffice-calc-nogui >/dev/null
fi

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy --strict"
.venv/bin/mypy
echo "== pytest (tests, doc examples, examples/)"
.venv/bin/pytest -n 2 -q
echo "== docs (sphinx -W)"
.venv/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html
echo "== all checks passed"
