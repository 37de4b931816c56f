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
# The simulator's figures depend on which OpenBLAS kernels do the arithmetic: they round
# differently, and a selection that differs by one item changes the rest of the run (same data,
# commit and seed: Haswell kernels gave default 0.861, SkylakeX ones 0.869; thread counts and
# PYTHONHASHSEED change nothing). Pin the kernels every x86-64 CPU with AVX2 and FMA runs, so the
# demo prints the same figures on any such machine; a value already set is kept.
if [ "$(uname -m)" = x86_64 ] && grep -qw avx2 /proc/cpuinfo 2>/dev/null \
    && grep -qw fma /proc/cpuinfo; then
  export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
fi
exec "$PYBIN" -m stream_al.cli demo "$@"
