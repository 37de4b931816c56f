#!/usr/bin/env bash
# Set up everything stream-al needs on a fresh machine, idempotently:
#   - a Python virtual environment (reused between runs)
#   - the project installed in it (editable), under constraints.txt (the versions behind the
#     published figures): the core only by default (worker, simulator, static and hashing
#     embedders, Kafka shell; no torch), plus the extras named by --extras
#   - with --kafka: Apache Kafka's broker jars from Maven Central (deploy/kafka.sh fetch)
#   - with --prometheus: Debian's prometheus package (deploy/prometheus.sh install)
# One venv serves every command: it keeps the union of the extras ever asked for, so
# `make demo` (core) and `make test` (--extras dev,minilm) work alone and in either order,
# and the demo after the tests installs nothing. The install is redone when pyproject.toml,
# constraints.txt or the checkout's path change.
#   STREAM_AL_CACHE (default ~/.cache/stream-al), STREAM_AL_VENV (default $STREAM_AL_CACHE/venv)
# Prints the venv's python path on the last line of stdout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${STREAM_AL_CACHE:-$HOME/.cache/stream-al}"
VENV="${STREAM_AL_VENV:-$CACHE/venv}"
PY="${PYTHON:-python3}"

want_kafka=0; want_prom=0; extras=""
while [ $# -gt 0 ]; do
  case "$1" in
    --kafka) want_kafka=1 ;;
    --prometheus) want_prom=1 ;;
    --extras) extras="${2:?--extras needs a list, e.g. --extras dev,minilm}"; shift ;;
    --extras=*) extras="${1#--extras=}" ;;
    *) echo "bootstrap: unknown option $1 (use --kafka, --prometheus, --extras dev,minilm)" >&2; exit 2 ;;
  esac
  shift
done

mkdir -p "$CACHE"
if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating virtual environment $VENV" >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel >&2
fi

# The stamp holds what the venv was installed from and with which extras.
stamp="$VENV/.stream-al-installed"
source_id="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -c1-16) $ROOT"
had=""
if [ -f "$stamp" ] && [ "$(head -n 1 "$stamp")" = "$source_id" ]; then
  had="$(sed -n 2p "$stamp")"
fi
union="$(printf '%s\n' ${had//,/ } ${extras//,/ } | sed '/^$/d' | LC_ALL=C sort -u | paste -sd, -)"
if [ ! -f "$stamp" ] || [ "$(head -n 1 "$stamp")" != "$source_id" ] || [ "$union" != "$had" ]; then
  spec="$ROOT${union:+[$union]}"
  case ",$union," in
    *,minilm,*) note="several minutes: torch is large" ;;
    *) note="core only, no torch" ;;
  esac
  echo "bootstrap: installing $spec into $VENV ($note)" >&2
  "$VENV/bin/python" -m pip install -q -c "$ROOT/constraints.txt" -e "$spec" >&2
  printf '%s\n%s\n' "$source_id" "$union" > "$stamp"
fi

if [ "$want_kafka" = 1 ]; then bash "$ROOT/deploy/kafka.sh" fetch >&2; fi
if [ "$want_prom" = 1 ]; then bash "$ROOT/deploy/prometheus.sh" install >&2; fi
echo "$VENV/bin/python"
