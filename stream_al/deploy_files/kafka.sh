#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft: broker and controller in one JVM) on 127.0.0.1, run from jars
# that Maven resolves from Maven Central. For development, the demo and the test suite; no Docker.
#
#   deploy/kafka.sh fetch     resolve the broker jars into the cache (skipped when already there)
#   deploy/kafka.sh start     fetch if needed, write the config, format storage once, start, and
#                             wait until the broker answers Kafka requests (exit 0 if already up)
#   deploy/kafka.sh stop      SIGTERM, wait, then SIGKILL
#   deploy/kafka.sh kill      SIGKILL at once (the crash the fault tests inject), wait until gone
#   deploy/kafka.sh status    exit 0 when a broker answers on KAFKA_PORT, 3 when stopped, 1 when
#                             the process is up but does not answer (yet)
#   deploy/kafka.sh restart   stop, then start
#   deploy/kafka.sh reset     stop, then delete the data directory
#   deploy/kafka.sh tls       (secured modes) make the CA, the broker's certificate and the admin's
#                             password in $KAFKA_DATA_DIR/tls, and nothing else (a container's
#                             init step: docker-compose.yml)
#   deploy/kafka.sh run       write the config, format storage once, and run the broker in the
#                             foreground (exec; a container's entrypoint: docker-compose.yml)
#   deploy/kafka.sh config    write the broker's config (and, secured, its certificates) and print it
#   deploy/kafka.sh client-cert NAME   (sasl_ssl) a client certificate for User:NAME (mTLS)
#
# Environment (defaults in brackets):
#   KAFKA_VERSION [4.0.2]            STREAM_AL_CACHE [$HOME/.cache/stream-al]
#   KAFKA_PORT [9092]                KAFKA_CONTROLLER_PORT [KAFKA_PORT + 1]
#   KAFKA_DATA_DIR [$STREAM_AL_CACHE/kafka-data-$KAFKA_PORT]: config, pid file, kafka.log, log dirs
#   KAFKA_HEAP_OPTS [-Xms256m -Xmx512m]
#   KAFKA_START_TIMEOUT [120] and KAFKA_STOP_TIMEOUT [30], in seconds
#   KAFKA_PYTHON [python3]: runs the readiness probe (standard library only)
#   KAFKA_LOG_LEVEL [WARN]: level of the broker's log, $KAFKA_DATA_DIR/kafka.log
#   A node of a cluster (deploy/kafka-cluster.sh sets these): KAFKA_NODE_ID [1],
#   KAFKA_QUORUM_VOTERS [1@127.0.0.1:KAFKA_CONTROLLER_PORT], KAFKA_CLUSTER_ID [random, at the
#   first format], KAFKA_REPLICATION [1]: copies of the internal topics (consumer offsets,
#   transaction state; their min ISR is one less), KAFKA_WAIT [1]: 0 makes `start` return
#   once the node is launched (a quorum of several answers only when a majority is up)
#   KAFKA_SECURITY [plaintext]: plaintext (development: anyone who reaches the port may do
#       anything) or sasl_ssl: the client listener takes SASL/SCRAM-SHA-512 over TLS only, the
#       StandardAuthorizer denies what no ACL allows, topics are never created automatically.
#       The script makes a CA and a broker certificate ($KAFKA_DATA_DIR/tls: clients trust
#       ca.pem) and the super user "admin" at format time (kafka-storage format --add-scram),
#       with the password in KAFKA_ADMIN_PASSWORD_FILE [$KAFKA_DATA_DIR/tls/admin.password],
#       generated if missing. The controller listener is mTLS with the broker's certificate.
#       Users and ACLs of the roles: deploy/kafka-roles.sh.
#       It also writes $KAFKA_DATA_DIR/tls/admin.properties (mode 600) for Kafka's
#       command-line tools (--command-config).
#   KAFKA_SASL_MECHANISMS [SCRAM-SHA-512]: sasl_ssl, the mechanisms the SASL_SSL listeners
#       take, the first also between brokers; add PLAIN for clients of managed clusters that
#       offer only PLAIN (its one user is the admin: PLAIN users live in the broker's config)
#   KAFKA_MTLS_PORT [none]: sasl_ssl, also listen on 127.0.0.1:KAFKA_MTLS_PORT with TLS and a
#       client certificate required (mTLS, listener MTLS). A certificate's CN is the user
#       (CN=worker is User:worker, so the roles' ACLs apply); `deploy/kafka.sh client-cert NAME`
#       makes $KAFKA_DATA_DIR/tls/NAME.pem and NAME.key, signed by the script's CA
#   KAFKA_LIBS [$STREAM_AL_CACHE/kafka-$KAFKA_VERSION/libs]: the broker's jars (/opt/kafka/libs
#       in the apache/kafka image)
#   KAFKA_TLS_HOSTS [127.0.0.1 localhost]: the names the broker's certificate is valid for
#   KAFKA_CLIENT_LISTENERS [SASL_SSL://127.0.0.1:$KAFKA_PORT]: sasl_ssl, the SASL_SSL client
#       listeners NAME://host:port,... (docker-compose.yml: one for containers, one for the host)
#   KAFKA_ADVERTISED_LISTENERS [KAFKA_CLIENT_LISTENERS]: what clients are told to connect to
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KAFKA_VERSION=${KAFKA_VERSION:-4.0.2}
CACHE=${STREAM_AL_CACHE:-$HOME/.cache/stream-al}
LIBS=${KAFKA_LIBS:-$CACHE/kafka-$KAFKA_VERSION/libs}
PORT=${KAFKA_PORT:-9092}
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}
DATA_DIR=${KAFKA_DATA_DIR:-$CACHE/kafka-data-$PORT}
PID_FILE=$DATA_DIR/kafka.pid
LOG_FILE=$DATA_DIR/kafka.log
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-120}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
PYTHON=${KAFKA_PYTHON:-python3}
LOG_LEVEL=${KAFKA_LOG_LEVEL:-WARN}
SECURITY=${KAFKA_SECURITY:-plaintext}
NODE_ID=${KAFKA_NODE_ID:-1}
QUORUM_VOTERS=${KAFKA_QUORUM_VOTERS:-$NODE_ID@127.0.0.1:$CONTROLLER_PORT}
REPLICATION=${KAFKA_REPLICATION:-1}
MIN_ISR=$((REPLICATION > 1 ? REPLICATION - 1 : 1))
WAIT=${KAFKA_WAIT:-1}
TLS_DIR=$DATA_DIR/tls
ADMIN_PASSWORD_FILE=${KAFKA_ADMIN_PASSWORD_FILE:-$TLS_DIR/admin.password}
TLS_HOSTS=${KAFKA_TLS_HOSTS:-127.0.0.1 localhost}
SASL_MECHANISMS=${KAFKA_SASL_MECHANISMS:-SCRAM-SHA-512}

NAME=kafka
# shellcheck source=deploy/lib.sh
source "$HERE/lib.sh"

need() {  # need COMMAND HOW_TO_GET_IT
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found; $2"
}

# --- jars ------------------------------------------------------------------------------------------

jars_current() {  # the cached jars were resolved from the pom.xml as it is now
    [[ -f $LIBS/.pom.sha256 && $(cat "$LIBS/.pom.sha256") == "$(sha256sum <"$HERE/kafka/pom.xml")" ]]
}

fetch() {
    jars_current && return 0
    need mvn "install Maven (apt-get install -y maven)"
    mkdir -p "$(dirname "$LIBS")"
    # The lock lives on fd 9 of this subshell only, so the broker started later does not hold it.
    (
        flock 9
        jars_current && exit 0  # another fetch finished while we waited
        resolve_jars
    ) 9>"$(dirname "$LIBS")/.fetch.lock"
}

resolve_jars() {
    local tmp
    say "resolving Kafka $KAFKA_VERSION jars with Maven into $LIBS"
    tmp=$(mktemp -d "$(dirname "$LIBS")/libs.XXXXXX")
    if ! mvn -q -B -f "$HERE/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
        cat "$tmp.log" >&2
        rm -rf "$tmp" "$tmp.log"
        die "Maven could not resolve Kafka $KAFKA_VERSION from Maven Central (its output is above)"
    fi
    rm -f "$tmp.log"
    sha256sum <"$HERE/kafka/pom.xml" >"$tmp/.pom.sha256"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    say "$(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS"
}

# --- configuration ---------------------------------------------------------------------------------

write_config() {
    mkdir -p "$DATA_DIR/logs"
    case $SECURITY in
        plaintext) plaintext_listeners ;;
        sasl_ssl) secured_listeners ;;
        *) die "KAFKA_SECURITY must be plaintext or sasl_ssl, got '$SECURITY'" ;;
    esac
    cat >>"$DATA_DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=$NODE_ID
controller.quorum.voters=$QUORUM_VOTERS
controller.listener.names=CONTROLLER
log.dirs=$DATA_DIR/logs
num.network.threads=2
num.io.threads=4
num.partitions=4
delete.topic.enable=true
group.initial.rebalance.delay.ms=0
offsets.topic.replication.factor=$REPLICATION
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$REPLICATION
transaction.state.log.min.isr=$MIN_ISR
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=$REPLICATION
share.coordinator.state.topic.min.isr=$MIN_ISR
# A restarted node must wait out its previous registration's session (9s by default) before the
# controller takes it back; on loopback a shorter session is safe and makes restarts quicker.
broker.session.timeout.ms=5000
broker.heartbeat.interval.ms=1000
EOF
    cat >"$DATA_DIR/log4j2.properties" <<EOF
# Written by deploy/kafka.sh: KAFKA_LOG_LEVEL and up, plus the line that says the server started.
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = $LOG_LEVEL
rootLogger.appenderRef.out.ref = OUT
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
EOF
}

plaintext_listeners() {
    cat >"$DATA_DIR/server.properties" <<EOF
# Written by deploy/kafka.sh; rewritten on every start. KAFKA_SECURITY=plaintext: development only.
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
auto.create.topics.enable=true
EOF
}

secured_listeners() {
    make_tls
    local names=() name map="CONTROLLER:SSL" jaas="" mechanism mechanisms=() line password
    local listeners=${KAFKA_CLIENT_LISTENERS:-SASL_SSL://127.0.0.1:$PORT}
    local advertised=${KAFKA_ADVERTISED_LISTENERS:-$listeners}
    IFS=, read -ra names <<<"$(sed -E 's#://[^,]*##g' <<<"$listeners")"
    read -ra mechanisms <<<"$SASL_MECHANISMS"
    for mechanism in "${mechanisms[@]}"; do login_module "$mechanism" >/dev/null; done
    password=$(admin_password)
    for name in "${names[@]}"; do
        [[ $name == CONTROLLER || $name == MTLS ]] && die "KAFKA_CLIENT_LISTENERS must not name $name (the script adds it)"
        map+=",$name:SASL_SSL"
        for mechanism in "${mechanisms[@]}"; do  # the broker's own login, and PLAIN's one user
            line="$(login_module "$mechanism") required username=\"admin\" password=\"$password\""
            [[ $mechanism == PLAIN ]] && line+=" user_admin=\"$password\""
            jaas+="listener.name.${name,,}.${mechanism,,}.sasl.jaas.config=$line;"$'\n'
        done
    done
    if [[ -n ${KAFKA_MTLS_PORT:-} ]]; then  # a certificate's CN is the user: CN=worker is User:worker
        listeners+=",MTLS://127.0.0.1:$KAFKA_MTLS_PORT"
        advertised+=",MTLS://127.0.0.1:$KAFKA_MTLS_PORT"
        map+=",MTLS:SSL"
        jaas+="listener.name.mtls.ssl.client.auth=required"$'\n'
    fi
    (
        umask 077  # it holds the admin's password
        cat >"$DATA_DIR/server.properties" <<EOF
# Written by deploy/kafka.sh; rewritten on every start. KAFKA_SECURITY=sasl_ssl.
listeners=$listeners,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=$advertised
inter.broker.listener.name=${names[0]}
listener.security.protocol.map=$map
sasl.enabled.mechanisms=$(IFS=,; echo "${mechanisms[*]}")
sasl.mechanism.inter.broker.protocol=${mechanisms[0]}
${jaas}ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/broker.keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
ssl.principal.mapping.rules=RULE:^CN=([^,]+)\$/\$1/,DEFAULT
listener.name.controller.ssl.client.auth=required
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:stream-al-broker
auto.create.topics.enable=false
EOF
        cat >"$TLS_DIR/admin.properties" <<EOF
# The admin's client settings for Kafka's tools (--command-config); by deploy/kafka.sh.
security.protocol=SASL_SSL
sasl.mechanism=${mechanisms[0]}
sasl.jaas.config=$(login_module "${mechanisms[0]}") required username="admin" password="$password";
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
EOF
    )
}

login_module() {  # login_module MECHANISM: its JAAS login module
    case $1 in
        SCRAM-SHA-512) echo org.apache.kafka.common.security.scram.ScramLoginModule ;;
        PLAIN) echo org.apache.kafka.common.security.plain.PlainLoginModule ;;
        *) die "KAFKA_SASL_MECHANISMS takes SCRAM-SHA-512 and PLAIN, got '$1'" ;;
    esac
}

make_tls() {  # a CA and the broker's certificate (for KAFKA_TLS_HOSTS), once per data dir
    [[ -f $TLS_DIR/broker.keystore.pem && -f $TLS_DIR/ca.pem ]] && return 0
    need openssl "install OpenSSL (apt-get install -y openssl)"
    mkdir -p "$TLS_DIR"
    chmod 700 "$TLS_DIR"
    say "making a CA and a broker certificate in $TLS_DIR"
    (
        cd "$TLS_DIR"
        umask 077
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=stream-al-ca" \
            -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=stream-al-broker" \
            -keyout broker.key -out broker.csr 2>/dev/null
        printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$(alt_names)" >broker.ext
        openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
            -extfile broker.ext -out broker.pem 2>/dev/null
        cat broker.key broker.pem >broker.keystore.pem
        rm -f broker.csr broker.ext
        chmod 644 ca.pem
    ) || die "openssl could not make the certificates in $TLS_DIR"
    chmod 755 "$TLS_DIR"  # clients read ca.pem; the keys stay 600
}

alt_names() {  # KAFKA_TLS_HOSTS as a subjectAltName: IP:127.0.0.1,DNS:kafka,...
    local out=() host
    for host in $TLS_HOSTS; do
        if [[ $host =~ ^[0-9.]+$ ]]; then out+=("IP:$host"); else out+=("DNS:$host"); fi
    done
    (IFS=,; echo "${out[*]}")
}

client_cert() {  # client_cert NAME: tls/NAME.pem, NAME.key and NAME.keystore.pem, CN=NAME
    local name=$1
    [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$ ]] || die "a client certificate's name must be letters, digits, - or _, got '$name'"
    [[ -f $TLS_DIR/ca.key ]] || die "no CA in $TLS_DIR: run KAFKA_SECURITY=sasl_ssl $0 tls (or start) first"
    need openssl "install OpenSSL (apt-get install -y openssl)"
    (
        cd "$TLS_DIR"
        umask 077
        openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$name.key" \
            -out "$name.csr" 2>/dev/null
        printf 'extendedKeyUsage=clientAuth\n' >"$name.ext"
        openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
            -extfile "$name.ext" -out "$name.pem" 2>/dev/null
        cat "$name.key" "$name.pem" >"$name.keystore.pem"
        rm -f "$name.csr" "$name.ext"
    ) || die "openssl could not make the certificate of $name in $TLS_DIR"
    say "client certificate of $name (User:$name): $TLS_DIR/$name.pem and $name.key"
}

admin_password() {  # the super user's password: KAFKA_ADMIN_PASSWORD_FILE, made once if missing
    if [[ ! -s $ADMIN_PASSWORD_FILE ]]; then
        mkdir -p "$(dirname "$ADMIN_PASSWORD_FILE")"
        (umask 077 && "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(24))' >"$ADMIN_PASSWORD_FILE")
    fi
    head -n 1 "$ADMIN_PASSWORD_FILE"
}

java_args() {  # sets JAVA_ARGS: the java command line, up to the main class, for the cached jars
    # shellcheck disable=SC2206  # HEAP_OPTS holds several options
    JAVA_ARGS=(java $HEAP_OPTS -Djava.awt.headless=true -XX:+ExitOnOutOfMemoryError
        -Dlog4j2.configurationFile="$DATA_DIR/log4j2.properties" -cp "$LIBS/*")
}

format_storage() {
    [[ -f $DATA_DIR/logs/meta.properties ]] && return 0
    local cluster_id=${KAFKA_CLUSTER_ID:-}
    java_args
    if [[ -n $cluster_id ]]; then
        :  # a node of a cluster: every node is formatted with the same id
    elif command -v "$PYTHON" >/dev/null 2>&1; then
        # Kafka's own Uuid.randomUuid(): URL-safe base64 of 16 random bytes, never starting with "-".
        cluster_id=$("$PYTHON" -c '
import base64, uuid
cluster_id = "-"
while cluster_id.startswith("-"):
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
print(cluster_id)')
    else  # no Python (the apache/kafka image): Kafka's storage tool makes one
        cluster_id=$("${JAVA_ARGS[@]}" kafka.tools.StorageTool random-uuid)
    fi
    say "formatting $DATA_DIR/logs (cluster id $cluster_id)"
    local scram=()
    if [[ $SECURITY == sasl_ssl ]]; then
        scram=(--add-scram "SCRAM-SHA-512=[name=admin,password=$(admin_password)]")
    fi
    "${JAVA_ARGS[@]}" kafka.tools.StorageTool format --ignore-formatted \
        --cluster-id "$cluster_id" --config "$DATA_DIR/server.properties" "${scram[@]}" \
        >>"$LOG_FILE" 2>&1 \
        || die_with_log "formatting the storage in $DATA_DIR/logs failed"
}

# --- process ---------------------------------------------------------------------------------------

broker_pid() {  # prints the pid of the broker started from DATA_DIR, if it is alive
    live_pid 'kafka\.Kafka'
}

broker_answers() {
    # A broker answers when it serves ApiVersions and a Metadata request that lists a live broker.
    "$PYTHON" - "$PORT" "$SECURITY" "$TLS_DIR" <<'PY'
import socket
import ssl
import struct
import sys


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def call(sock, api_key, version, body, correlation_id):
    client_id = b"stream-al-probe"
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    response = recv_exact(sock, size)
    if struct.unpack_from(">i", response)[0] != correlation_id:
        raise ValueError("correlation id mismatch")
    return response[4:]


def secured_answers(port, tls_dir):
    # Before SASL authentication a broker serves only ApiVersions and the SASL handshake: a TLS
    # session with the broker's certificate and an ApiVersions answer mean the listener is up.
    context = ssl.create_default_context(cafile=f"{tls_dir}/ca.pem")
    with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            error, _ = struct.unpack_from(">hi", call(sock, 18, 0, b"", 1))
            sys.exit(1 if error else 0)


try:
    if sys.argv[2] == "sasl_ssl":
        secured_answers(int(sys.argv[1]), sys.argv[3])
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as sock:
        body = call(sock, 18, 0, b"", 1)  # ApiVersions v0
        error, count = struct.unpack_from(">hi", body)
        if error:
            sys.exit(1)
        ranges = {}
        for i in range(count):
            key, low, high = struct.unpack_from(">hhh", body, 6 + 6 * i)
            ranges[key] = (low, high)
        low, high = ranges[3]
        version = min(high, 8)  # Metadata v1..v8 share this simple non-flexible encoding
        if version < max(low, 1):
            print(f"probe: broker needs Metadata v{low}+", file=sys.stderr)
            sys.exit(1)
        request = struct.pack(">i", 0)  # no topics: we only want the brokers
        request += b"\x00" if version >= 4 else b""  # allow_auto_topic_creation
        request += b"\x00\x00" if version >= 8 else b""  # include_*_authorized_operations
        body = call(sock, 3, version, request, 2)
        (brokers,) = struct.unpack_from(">i", body, 4 if version >= 3 else 0)
        sys.exit(0 if brokers > 0 else 1)
except (OSError, ValueError, KeyError, struct.error, ssl.SSLError):
    sys.exit(1)
PY
}

wait_ready() {  # wait_ready PID
    wait_until "$1" broker_answers "answering on 127.0.0.1:$PORT"
}

start() {
    local pid began=$SECONDS
    need java "install Java 17 or newer (apt-get install -y openjdk-17-jre-headless)"
    need "$PYTHON" "set KAFKA_PYTHON to a Python 3 interpreter"
    if pid=$(broker_pid); then
        if ! broker_answers; then
            say "pid $pid is starting; waiting until it answers on 127.0.0.1:$PORT"
            wait_ready "$pid"
        fi
        say "already running (pid $pid) on 127.0.0.1:$PORT"
        return 0
    fi
    if broker_answers; then
        say "a broker already answers on 127.0.0.1:$PORT (not started from $DATA_DIR); leaving it alone"
        return 0
    fi
    for p in "$PORT" "$CONTROLLER_PORT"; do
        tcp_open "$p" && die "port $p on 127.0.0.1 is taken by something that is not this broker; pick another KAFKA_PORT"
    done
    fetch
    write_config
    : >"$LOG_FILE"
    format_storage
    cd "$DATA_DIR"
    java_args
    launch "${JAVA_ARGS[@]}" kafka.Kafka "$DATA_DIR/server.properties"
    pid=$LAUNCHED_PID
    if [[ $WAIT == 0 ]]; then
        say "launched node $NODE_ID (pid $pid) on 127.0.0.1:$PORT; not waiting (KAFKA_WAIT=0)"
        return 0
    fi
    wait_ready "$pid"
    say "started (pid $pid) on 127.0.0.1:$PORT in $((SECONDS - began))s; data and log in $DATA_DIR"
}

run() {  # in the foreground, for a container: exec the broker (its log on stdout)
    need java "install Java 17 or newer"
    [[ -d $LIBS ]] || fetch
    write_config
    format_storage
    java_args
    say "running the broker (KAFKA_SECURITY=$SECURITY) from $DATA_DIR"
    exec "${JAVA_ARGS[@]}" kafka.Kafka "$DATA_DIR/server.properties"
}

tls() {  # the CA, the broker's certificate and the admin's password, for a container's init
    [[ $SECURITY == plaintext ]] && die "KAFKA_SECURITY=plaintext needs no certificates"
    make_tls
    admin_password >/dev/null
    say "CA, broker certificate (${TLS_HOSTS// /, }) and admin password in $TLS_DIR"
}

stop() {
    local pid
    if ! pid=$(broker_pid); then
        rm -f "$PID_FILE"
        say "not running from $DATA_DIR"
        return 0
    fi
    stop_pid "$pid"
}

crash() {  # kill -9, as a fault: no clean shutdown, but gone before anyone restarts the node
    local pid
    pid=$(broker_pid) || die "not running from $DATA_DIR"
    kill_pid "$pid"
    rm -f "$PID_FILE"
    say "killed (pid $pid)"
}

status() {
    local pid
    if pid=$(broker_pid); then
        if broker_answers; then
            say "running (pid $pid) on 127.0.0.1:$PORT; data and log in $DATA_DIR"
            return 0
        fi
        say "pid $pid is alive but does not answer on 127.0.0.1:$PORT (starting, or unhealthy: see $LOG_FILE)"
        return 1
    fi
    if broker_answers; then
        say "a broker answers on 127.0.0.1:$PORT (not started from $DATA_DIR)"
        return 0
    fi
    say "stopped (port $PORT)"
    return 3
}

reset() {
    stop
    [[ -e $DATA_DIR ]] || return 0
    if [[ ! -f $DATA_DIR/server.properties && -n $(ls -A "$DATA_DIR") ]]; then
        die "$DATA_DIR does not look like a directory this script made (no server.properties); not deleting it"
    fi
    rm -rf "$DATA_DIR"
    say "deleted $DATA_DIR"
}

case ${1:-} in
    fetch) fetch ;;
    start) start ;;
    stop) stop ;;
    kill) crash ;;
    status) status ;;
    restart) stop && start ;;
    reset) reset ;;
    run) run ;;
    config) write_config && cat "$DATA_DIR/server.properties" ;;
    tls) tls ;;
    client-cert) client_cert "${2:?usage: $0 client-cert NAME}" ;;
    *)
        echo "usage: $0 {fetch|start|stop|kill|status|restart|reset|run|tls|config|client-cert NAME}" >&2
        exit 2
        ;;
esac
