#!/usr/bin/env bash
# The demo command: set up (the core install, no torch, plus the `plots` extra so it draws its
# learning-curve PNGs; Kafka jars), then run the whole loop on a private local broker (port
# 39092) with a worker, the simulated vendor and the producer on AG News, and finally the
# simulator's comparison with random. Extra arguments go to `stream-al demo`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYBIN="$(bash "$ROOT/deploy/bootstrap.sh" --kafka --extras plots | tail -n 1)"
cd "$ROOT"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$PYBIN" -m stream_al.cli demo "$@"
