#!/usr/bin/env bash
# Set up everything Tunggal needs on a fresh machine: a Python 3.11 virtual environment with the
# project and its test dependencies. Idempotent: a second run takes seconds. (The Kafka broker's
# Java artifacts are fetched from Maven Central by `tunggal broker start` on first use.)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && \
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
      PYTHON=$candidate; break
    fi
  done
fi
if [ -z "$PYTHON" ]; then
  echo "bootstrap: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
for tool in java mvn; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bootstrap: '$tool' is required (Java 17+ and Maven run the local Kafka broker)" >&2; exit 1; }
done

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.tunggal-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing tunggal and its dependencies into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test]"
  touch "$stamp"
fi
echo "bootstrap: ready ($(.venv/bin/tunggal --version))"
