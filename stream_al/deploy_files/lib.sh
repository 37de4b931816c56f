# Process handling shared by deploy/kafka.sh and deploy/prometheus.sh (sourced, not run).
#
# The sourcing script sets NAME (prefix of messages), PID_FILE, LOG_FILE, START_TIMEOUT and
# STOP_TIMEOUT before calling these.

say() { echo "$NAME: $*"; }

die() {
    echo "$NAME: error: $*" >&2
    exit 1
}

die_with_log() {  # die, showing the end of the server's log
    if [[ -s $LOG_FILE ]]; then
        echo "---- last 40 lines of $LOG_FILE ----" >&2
        tail -n 40 "$LOG_FILE" >&2
    fi
    die "$@"
}

tcp_open() {  # tcp_open PORT: something listens on 127.0.0.1:PORT
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

live_pid() {  # live_pid PATTERN: the pid in PID_FILE if it is alive and its command line matches
    local pid
    [[ -f $PID_FILE ]] || return 1
    pid=$(cat "$PID_FILE")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$1" || return 1
    echo "$pid"
}

launch() {  # launch COMMAND...: start it detached, appending to LOG_FILE; sets LAUNCHED_PID
    # setsid: the server outlives the shell that started it; bash writes the pid the server takes.
    # A pid file left by a killed server must go first, or its dead pid would be read as ours.
    rm -f "$PID_FILE"
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PID_FILE" "$@" </dev/null >>"$LOG_FILE" 2>&1 &
    local launcher=$!
    for _ in $(seq 50); do [[ -s $PID_FILE ]] && break; sleep 0.1; done
    LAUNCHED_PID=$(cat "$PID_FILE" 2>/dev/null || echo "$launcher")
}

wait_until() {  # wait_until PID PROBE WHAT: poll PROBE until it succeeds; die if PID exits or time runs out
    local pid=$1 probe=$2 what=$3 deadline=$((SECONDS + START_TIMEOUT))
    until "$probe"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            die_with_log "$NAME (pid $pid) exited during start-up"
        fi
        if ((SECONDS >= deadline)); then
            kill -KILL "$pid" 2>/dev/null || true
            rm -f "$PID_FILE"
            die_with_log "$NAME (pid $pid) was not $what within ${START_TIMEOUT}s; killed it"
        fi
        sleep 0.3
    done
}

gone() {  # gone PID: the process has exited (or is a zombie nobody reaps: it holds nothing)
    ! kill -0 "$1" 2>/dev/null || [[ $(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) == Z ]]
}

wait_gone() {  # wait_gone PID SECONDS: poll until PID is gone; 1 if it is still there after SECONDS
    local _
    for _ in $(seq $(($2 * 10))); do
        gone "$1" && return 0
        sleep 0.1
    done
    gone "$1"
}

stop_pid() {  # stop_pid PID: SIGTERM, wait STOP_TIMEOUT, then SIGKILL; removes PID_FILE
    local pid=$1
    kill -TERM "$pid"
    if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
        say "pid $pid ignored SIGTERM for ${STOP_TIMEOUT}s; sending SIGKILL"
        kill_pid "$pid"
    fi
    rm -f "$PID_FILE"
    say "stopped (pid $pid)"
}

kill_pid() {  # kill_pid PID: SIGKILL, then wait until it is gone, so nobody restarts beside it
    kill -KILL "$1" 2>/dev/null || true
    wait_gone "$1" 30 || die "pid $1 outlived SIGKILL by 30 s"
}
