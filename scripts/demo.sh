#!/usr/bin/env bash
# The demo: start the local Kafka broker, generate a synthetic population, run a worker, feed it
# as recording stations would, show the verdicts arriving, and evaluate them against the truth.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/tunggal demo "$@"
