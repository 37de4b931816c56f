#!/usr/bin/env bash
# A 3-node Apache Kafka cluster (KRaft; each node a broker and one of three controllers) on
# 127.0.0.1: three processes started by deploy/kafka.sh, for development and the replication
# tests. Topics get 3 copies and min.insync.replicas 2 (stream-al's defaults on 3 brokers), so
# any one node may die without losing an acknowledged record or stopping the pipeline.
#
#   deploy/kafka-cluster.sh start        launch the three nodes, then wait until each answers
#   deploy/kafka-cluster.sh stop         stop the three nodes
#   deploy/kafka-cluster.sh status       exit 0 when all three answer
#   deploy/kafka-cluster.sh bootstrap    print the bootstrap list (host:port,host:port,...)
#   deploy/kafka-cluster.sh kill N       kill -9 node N (1-3): the fault the tests inject
#   deploy/kafka-cluster.sh start-node N start (restart) node N and wait until it answers
#   deploy/kafka-cluster.sh reset        stop, then delete every node's data
#
# Environment (defaults in brackets): KAFKA_PORT [9092]: node N listens on KAFKA_PORT + 2(N-1)
# for clients and the next port for its controller; KAFKA_DATA_DIR
# [$STREAM_AL_CACHE/kafka-cluster-$KAFKA_PORT]: node N keeps its data in node-N; the rest as in
# deploy/kafka.sh (KAFKA_VERSION, KAFKA_HEAP_OPTS [-Xms128m -Xmx384m here], timeouts, ...).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${STREAM_AL_CACHE:-$HOME/.cache/stream-al}
BASE=${KAFKA_PORT:-9092}
ROOT=${KAFKA_DATA_DIR:-$CACHE/kafka-cluster-$BASE}
PYTHON=${KAFKA_PYTHON:-python3}
NODES=(1 2 3)
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms128m -Xmx384m}

port_of() { echo $((BASE + 2 * ($1 - 1))); }

voters() {
    local n out=()
    for n in "${NODES[@]}"; do out+=("$n@127.0.0.1:$(($(port_of "$n") + 1))"); done
    (IFS=,; echo "${out[*]}")
}

cluster_id() {  # made once, shared by the three nodes' storage
    mkdir -p "$ROOT"
    if [[ ! -s $ROOT/cluster.id ]]; then
        "$PYTHON" -c '
import base64, uuid
cluster_id = "-"
while cluster_id.startswith("-"):
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
print(cluster_id)' >"$ROOT/cluster.id"
    fi
    cat "$ROOT/cluster.id"
}

node() {  # node N COMMAND [KAFKA_WAIT]: deploy/kafka.sh COMMAND for node N
    local n=$1 port
    [[ $n =~ ^[123]$ ]] || { echo "kafka-cluster: error: node must be 1, 2 or 3, got '$n'" >&2; exit 2; }
    port=$(port_of "$n")
    KAFKA_PORT=$port KAFKA_CONTROLLER_PORT=$((port + 1)) KAFKA_DATA_DIR=$ROOT/node-$n \
        KAFKA_NODE_ID=$n KAFKA_QUORUM_VOTERS=$(voters) KAFKA_CLUSTER_ID=$(cluster_id) \
        KAFKA_REPLICATION=3 KAFKA_WAIT=${3:-1} KAFKA_PYTHON=$PYTHON \
        "$HERE/kafka.sh" "$2"
}

bootstrap() {
    local n out=()
    for n in "${NODES[@]}"; do out+=("127.0.0.1:$(port_of "$n")"); done
    (IFS=,; echo "${out[*]}")
}

case ${1:-} in
    start)
        for n in "${NODES[@]}"; do node "$n" start 0; done  # a quorum needs two of them up
        for n in "${NODES[@]}"; do node "$n" start; done
        echo "kafka-cluster: bootstrap $(bootstrap)"
        ;;
    stop)  # all at once: a node stopped last would wait for a quorum that is gone
        for n in "${NODES[@]}"; do node "$n" stop & done
        wait
        ;;
    status) for n in "${NODES[@]}"; do node "$n" status; done ;;
    bootstrap) bootstrap ;;
    kill) node "${2:?kill needs a node: 1, 2 or 3}" kill ;;
    start-node) node "${2:?start-node needs a node: 1, 2 or 3}" start ;;
    reset)
        for n in "${NODES[@]}"; do node "$n" reset; done
        rm -f "$ROOT/cluster.id"
        ;;
    *)
        echo "usage: $0 {start|stop|status|bootstrap|kill N|start-node N|reset}" >&2
        exit 2
        ;;
esac
