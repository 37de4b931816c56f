#!/usr/bin/env bash
# Write constraints.txt: the exact version of every package in a working virtual environment,
# the one the published figures were measured with. deploy/bootstrap.sh and the Dockerfile
# install under these constraints, so a fresh machine gets the same libraries (a constraint
# only pins a package if something asks for it: the core install still gets no torch).
#   deploy/freeze_constraints.sh [PYTHON]    default: the bootstrap venv's python
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYBIN="${1:-${STREAM_AL_VENV:-${STREAM_AL_CACHE:-$HOME/.cache/stream-al}/venv}/bin/python}"
OUT="$ROOT/constraints.txt"
{
  echo "# Versions behind stream-al's published figures; regenerate with deploy/freeze_constraints.sh"
  echo "# from: $("$PYBIN" -c 'import platform, sys; print(f"CPython {platform.python_version()} {sys.platform} {platform.machine()}")')"
  "$PYBIN" -m pip freeze --exclude-editable --disable-pip-version-check \
    | grep -v -i -E '^(stream-al|stream_al)[ =@]' | grep -v ' @ ' | LC_ALL=C sort -f
} >"$OUT"
echo "wrote $OUT ($(grep -c '==' "$OUT") pins)" >&2
