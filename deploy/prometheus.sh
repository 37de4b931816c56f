#!/usr/bin/env bash
# A Prometheus server on 127.0.0.1 for development, the demo and the test suite: Debian's package,
# run as a plain background process (never the system service, never Docker).
#
#   deploy/prometheus.sh install   apt-get install prometheus if the binary is missing, and make sure
#                                  no system service is left running on port 9090
#   deploy/prometheus.sh start     install if needed, check the config, start, wait for /-/ready;
#                                  when already running with the same config, reload it (SIGHUP)
#   deploy/prometheus.sh stop      SIGTERM, wait, then SIGKILL
#   deploy/prometheus.sh status    exit 0 when it is ready on PROM_PORT, 3 when stopped, 1 when the
#                                  process is up but not ready (yet)
#
# Environment (defaults in brackets):
#   PROM_PORT [9090]                 PROM_CONFIG [deploy/prometheus.yml]
#   PROM_RUN_DIR [${TMPDIR:-/tmp}/stream-al-prometheus-$PROM_PORT]: pid file, prometheus.log, data/
#   PROM_START_TIMEOUT [60] and PROM_STOP_TIMEOUT [20], in seconds
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PORT=${PROM_PORT:-9090}
CONFIG=${PROM_CONFIG:-$HERE/prometheus.yml}
RUN_DIR=${PROM_RUN_DIR:-${TMPDIR:-/tmp}/stream-al-prometheus-$PORT}
PID_FILE=$RUN_DIR/prometheus.pid
LOG_FILE=$RUN_DIR/prometheus.log
CONFIG_RECORD=$RUN_DIR/config-path
START_TIMEOUT=${PROM_START_TIMEOUT:-60}
STOP_TIMEOUT=${PROM_STOP_TIMEOUT:-20}
URL=http://127.0.0.1:$PORT

NAME=prometheus
# shellcheck source=deploy/lib.sh
source "$HERE/lib.sh"

ready() {  # Prometheus answers GET /-/ready with 200
    if command -v curl >/dev/null 2>&1; then
        curl -fsS -o /dev/null --max-time 2 "$URL/-/ready" 2>/dev/null
    else
        python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
            "$URL/-/ready" 2>/dev/null
    fi
}

# --- install ---------------------------------------------------------------------------------------

disable_system_service() {
    # Debian's package enables a prometheus service on :9090 (and starts it where services may
    # start); this project runs its own server instead, so stop the service and keep it off.
    if [[ -d /run/systemd/system ]]; then
        systemctl disable --now --quiet prometheus 2>/dev/null || true
    elif [[ -x /etc/init.d/prometheus ]]; then
        /etc/init.d/prometheus status >/dev/null 2>&1 && { /etc/init.d/prometheus stop >/dev/null || true; }
        update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
}

install() {
    if command -v prometheus >/dev/null 2>&1; then
        return 0
    fi
    [[ $EUID -eq 0 ]] || die "installing prometheus needs root: run 'sudo $0 install' once"
    command -v apt-get >/dev/null 2>&1 || die "no apt-get here; install Prometheus 2.x so that 'prometheus' is on PATH"
    say "installing Debian's prometheus package"
    # policy-rc.d exit code 101 forbids maintainer scripts to start services during the install.
    local policy=/usr/sbin/policy-rc.d made_policy=""
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        made_policy=yes
    fi
    local rc=0
    { apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } ||
        rc=$?
    [[ -n $made_policy ]] && rm -f "$policy"
    ((rc == 0)) || die "apt-get install prometheus failed (exit $rc)"
    disable_system_service
    say "installed $(prometheus --version 2>&1 | head -n 1)"
}

# --- process ---------------------------------------------------------------------------------------

server_pid() {  # prints the pid of the Prometheus started from RUN_DIR, if it is alive
    live_pid prometheus
}

wait_ready() {  # wait_ready PID
    wait_until "$1" ready "ready at $URL"
}

start() {
    local pid config check began=$SECONDS
    [[ -f $CONFIG ]] || die "no config at $CONFIG; set PROM_CONFIG to a prometheus.yml"
    config=$(realpath "$CONFIG")
    install
    if command -v promtool >/dev/null 2>&1 && ! check=$(promtool check config "$config" 2>&1); then
        echo "$check" >&2
        die "$config is not a valid Prometheus config"
    fi
    if pid=$(server_pid); then
        if [[ $(cat "$CONFIG_RECORD" 2>/dev/null) == "$config" ]]; then
            kill -HUP "$pid"
            say "already running (pid $pid) at $URL; reloaded $config"
            return 0
        fi
        say "running with another config; restarting with $config"
        stop
    elif ready; then
        die "another Prometheus (not started from $RUN_DIR) already serves $URL; stop it or pick another PROM_PORT"
    elif tcp_open "$PORT"; then
        die "port $PORT on 127.0.0.1 is taken by something that is not Prometheus; pick another PROM_PORT"
    fi
    mkdir -p "$RUN_DIR/data"
    echo "$config" >"$CONFIG_RECORD"
    : >"$LOG_FILE"
    launch prometheus --config.file="$config" --storage.tsdb.path="$RUN_DIR/data" \
        --storage.tsdb.retention.time=2d --web.listen-address="127.0.0.1:$PORT"
    pid=$LAUNCHED_PID
    wait_ready "$pid"
    say "started (pid $pid) at $URL in $((SECONDS - began))s with $config; log in $LOG_FILE"
}

stop() {
    local pid
    if ! pid=$(server_pid); then
        rm -f "$PID_FILE"
        say "not running from $RUN_DIR"
        return 0
    fi
    stop_pid "$pid"
}

status() {
    local pid
    if pid=$(server_pid); then
        if ready; then
            say "running (pid $pid) at $URL with $(cat "$CONFIG_RECORD" 2>/dev/null)"
            return 0
        fi
        say "pid $pid is alive but not ready at $URL (starting, or unhealthy: see $LOG_FILE)"
        return 1
    fi
    if ready; then
        say "a Prometheus not started from $RUN_DIR is ready at $URL"
        return 0
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
