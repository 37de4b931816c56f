#!/usr/bin/env bash
# Set up everything stream-al needs on a fresh machine, idempotently:
#   - a Python virtual environment (reused between runs; rebuilt when pyproject.toml changes)
#   - the project installed in it with its dev extras (torch comes with sentence-transformers)
#   - with --kafka: Apache Kafka's broker jars from Maven Central (deploy/kafka.sh fetch)
#   - with --prometheus: Debian's prometheus package (deploy/prometheus.sh install)
# Prints the venv's python path on the last line of stdout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${STREAM_AL_CACHE:-$HOME/.cache/stream-al}"
VENV="${STREAM_AL_VENV:-$CACHE/venv}"
PY="${PYTHON:-python3}"

want_kafka=0; want_prom=0
for arg in "$@"; do
  case "$arg" in
    --kafka) want_kafka=1 ;;
    --prometheus) want_prom=1 ;;
    *) echo "bootstrap: unknown option $arg (use --kafka, --prometheus)" >&2; exit 2 ;;
  esac
done

mkdir -p "$CACHE"
if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating virtual environment $VENV" >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel >&2
fi

stamp="$VENV/.stream-al-installed"
want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16) $ROOT"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing stream-al and its dependencies into $VENV (first time: several minutes, torch is large)" >&2
  "$VENV/bin/python" -m pip install -q -e "$ROOT[dev]" >&2
  echo "$want" > "$stamp"
fi

if [ "$want_kafka" = 1 ]; then bash "$ROOT/deploy/kafka.sh" fetch >&2; fi
if [ "$want_prom" = 1 ]; then bash "$ROOT/deploy/prometheus.sh" install >&2; fi
echo "$VENV/bin/python"
