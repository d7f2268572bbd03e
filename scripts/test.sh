#!/usr/bin/env bash
# Run every test: unit tests of the pure core, and integration tests against a real Apache Kafka
# broker that the test session starts itself (and fails, never skips, if it cannot).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
