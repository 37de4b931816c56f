#!/usr/bin/env bash
# A Label Studio server on 127.0.0.1 for `stream-al bridge label-studio`, its tests and the demo:
# PyPI's label-studio in a venv of its own (it pins many packages, so never the project's venv),
# on SQLite, one process; and Debian's chromium + chromium-driver for the browser test.
#
#   deploy/label-studio.sh install    make the venv and pip install label-studio there (once);
#                                     apt-get install chromium chromium-driver if missing (root)
#   deploy/label-studio.sh start      install if needed, start, wait until /health answers; the
#                                     first start creates the user LS_USERNAME with LS_PASSWORD
#                                     and the API token LS_TOKEN
#   deploy/label-studio.sh stop       SIGTERM, wait, then SIGKILL
#   deploy/label-studio.sh status     exit 0 when it answers on LS_PORT, 3 when stopped, 1 when
#                                     the process is up but does not answer (yet)
#
# Environment (defaults in brackets):
#   LS_PORT [8080]   LS_VERSION [1.23.2]   LS_VENV [~/.cache/stream-al/label-studio/venv]
#   LS_RUN_DIR [${TMPDIR:-/tmp}/stream-al-label-studio-$LS_PORT]: pid file, label-studio.log,
#     data/ (the SQLite database and uploads)
#   LS_USERNAME [admin@stream-al.local]  LS_PASSWORD [stream-al-admin]
#   LS_TOKEN [a fixed 40-hex development token; set your own outside development]
#   LS_START_TIMEOUT [180] and LS_STOP_TIMEOUT [20], in seconds
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PORT=${LS_PORT:-8080}
VERSION=${LS_VERSION:-1.23.2}
VENV=${LS_VENV:-$HOME/.cache/stream-al/label-studio/venv}
RUN_DIR=${LS_RUN_DIR:-${TMPDIR:-/tmp}/stream-al-label-studio-$PORT}
PID_FILE=$RUN_DIR/label-studio.pid
LOG_FILE=$RUN_DIR/label-studio.log
START_TIMEOUT=${LS_START_TIMEOUT:-180}
STOP_TIMEOUT=${LS_STOP_TIMEOUT:-20}
USERNAME=${LS_USERNAME:-admin@stream-al.local}
PASSWORD=${LS_PASSWORD:-stream-al-admin}
TOKEN=${LS_TOKEN:-5eb1c0ffee5eb1c0ffee5eb1c0ffee5eb1c0ffee}
URL=http://127.0.0.1:$PORT
# A first start migrates an empty SQLite database (minutes on a loaded machine); later starts
# with a new data dir begin from a copy of the first one's database, made once it answered.
TEMPLATE=$(dirname "$VENV")/template-$VERSION-$(echo "$USERNAME:$PASSWORD:$TOKEN" | sha1sum | cut -c1-12).sqlite3

NAME=label-studio
# shellcheck source=deploy/lib.sh
source "$HERE/lib.sh"

ready() {  # Label Studio answers GET /health with 200
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
        "$URL/health" 2>/dev/null
}

# --- install ---------------------------------------------------------------------------------------

install_server() {
    if [[ -x $VENV/bin/label-studio ]] && [[ $("$VENV/bin/python" -c \
        'import importlib.metadata as m; print(m.version("label-studio"))' 2>/dev/null) == "$VERSION" ]]; then
        return 0
    fi
    local python
    python=$(command -v python3.11 || command -v python3) || die "no python3 on PATH"
    say "installing label-studio $VERSION into $VENV (its own venv; takes a few minutes)"
    [[ -x $VENV/bin/python ]] || "$python" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip >/dev/null
    "$VENV/bin/pip" install -q "label-studio==$VERSION" || die "pip install label-studio==$VERSION failed"
    say "installed label-studio $VERSION in $VENV"
}

install_browser() {
    if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
        return 0
    fi
    if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        say "no chromium/chromedriver, and no root apt-get to install them: the browser test will skip"
        return 0
    fi
    say "installing Debian's chromium and chromium-driver (for the browser test)"
    { apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; } ||
        die "apt-get install chromium chromium-driver failed"
}

install() {
    install_server
    install_browser
}

# --- process ---------------------------------------------------------------------------------------

start() {
    local pid began=$SECONDS
    install_server
    if pid=$(live_pid label-studio); then
        say "already running (pid $pid) at $URL"
        return 0
    elif tcp_open "$PORT"; then
        die "port $PORT on 127.0.0.1 is taken; stop what serves it or pick another LS_PORT"
    fi
    mkdir -p "$RUN_DIR/data"
    if [[ ! -e $RUN_DIR/data/label_studio.sqlite3 && -s $TEMPLATE ]]; then
        cp "$TEMPLATE" "$RUN_DIR/data/label_studio.sqlite3"
    fi
    : >"$LOG_FILE"
    # One process: Django's development server without the autoreloader; SQLite in data/.
    launch env LABEL_STUDIO_BASE_DATA_DIR="$RUN_DIR/data" DJANGO_DB=sqlite \
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true LATEST_VERSION_CHECK=false \
        COLLECT_ANALYTICS=false SENTRY_DSN= FRONTEND_SENTRY_DSN= \
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true \
        "$VENV/bin/label-studio" start --no-browser --internal-host 127.0.0.1 --port "$PORT" \
        --data-dir "$RUN_DIR/data" --username "$USERNAME" --password "$PASSWORD" \
        --user-token "$TOKEN" --enable-legacy-api-token
    pid=$LAUNCHED_PID
    wait_until "$pid" ready "answering at $URL"
    if [[ ! -s $TEMPLATE ]]; then  # sqlite3's backup: a consistent copy of a live database
        "$VENV/bin/python" -c 'import sqlite3, sys
src, dst = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2] + ".tmp")
src.backup(dst); dst.close()' "$RUN_DIR/data/label_studio.sqlite3" "$TEMPLATE" &&
            mv "$TEMPLATE.tmp" "$TEMPLATE"
    fi
    say "started (pid $pid) at $URL in $((SECONDS - began))s; user $USERNAME; log in $LOG_FILE"
}

stop() {
    local pid
    if ! pid=$(live_pid label-studio); then
        rm -f "$PID_FILE"
        say "not running from $RUN_DIR"
        return 0
    fi
    stop_pid "$pid"
}

status() {
    local pid
    if pid=$(live_pid label-studio); then
        if ready; then
            say "running (pid $pid) at $URL"
            return 0
        fi
        say "pid $pid is alive but does not answer at $URL (starting, or unhealthy: see $LOG_FILE)"
        return 1
    fi
    say "stopped (port $PORT)"
    return 3
}

case ${1:-} in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    *)
        echo "usage: $0 {install|start|stop|status}" >&2
        exit 2
        ;;
esac
