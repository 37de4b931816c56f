#!/usr/bin/env bash
# The one-shot steps of docker-compose.yml's secured stack (run as root in the stream-al image,
# each before the services that need it; every step keeps what an earlier `up` made).
#
#   deploy/compose-init.sh secrets   the CA, the broker's certificate and the admin's password
#                                    ($KAFKA_DATA_DIR/tls: deploy/kafka.sh tls), the CA alone in
#                                    $CA_DIR for the clients, Grafana's admin password in
#                                    $GRAFANA_DIR/admin.password (GRAFANA_ADMIN_PASSWORD, or made)
#   deploy/compose-init.sh roles     once the broker answers: every role's SCRAM user and ACLs
#                                    (deploy/kafka-roles.sh all), each password in
#                                    $KAFKA_USERS_DIR/<user>/password, a volume per user, so
#                                    each container is handed only its own
#
# Environment (defaults in brackets): KAFKA_DATA_DIR (required), CA_DIR [/run/secrets/kafka-ca],
# GRAFANA_DIR [/run/secrets/grafana], KAFKA_USERS_DIR [/run/secrets/kafka-users], KAFKA_UID
# [1000: apache/kafka's user], CLIENT_UID [10001: the stream-al image's user], GRAFANA_UID [472:
# grafana/grafana's user]; files are given to those users only when run as root. The rest as
# deploy/kafka.sh and deploy/kafka-roles.sh take it (KAFKA_TLS_HOSTS, KAFKA_BOOTSTRAP, ...).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DATA_DIR=${KAFKA_DATA_DIR:?set KAFKA_DATA_DIR to the broker data directory (its tls/ is made there)}
CA_DIR=${CA_DIR:-/run/secrets/kafka-ca}
GRAFANA_DIR=${GRAFANA_DIR:-/run/secrets/grafana}
USERS_DIR=${KAFKA_USERS_DIR:-/run/secrets/kafka-users}
PYTHON=${KAFKA_PYTHON:-python3}

give() {  # give UID PATH...: chown, when we may
    local uid=$1
    shift
    if [[ $(id -u) == 0 ]]; then chown -R "$uid:$uid" "$@"; fi
}

secrets() {
    KAFKA_SECURITY=sasl_ssl bash "$HERE/kafka.sh" tls
    mkdir -p "$CA_DIR" "$GRAFANA_DIR"
    install -m 644 "$DATA_DIR/tls/ca.pem" "$CA_DIR/ca.pem"
    give "${KAFKA_UID:-1000}" "$DATA_DIR"
    local grafana=$GRAFANA_DIR/admin.password
    if [[ -n ${GRAFANA_ADMIN_PASSWORD:-} ]]; then
        rm -f "$grafana"
        (umask 077 && printf '%s\n' "$GRAFANA_ADMIN_PASSWORD" >"$grafana")
    elif [[ ! -s $grafana ]]; then
        (umask 077 && "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(18))' >"$grafana")
    fi
    chmod 400 "$grafana"
    give "${GRAFANA_UID:-472}" "$grafana"
    echo "compose-init: secrets ready (Grafana's admin password: $grafana in the grafana-admin volume)"
}

roles() {
    KAFKA_USERS_DIR=$USERS_DIR bash "$HERE/kafka-roles.sh" all
    give "${CLIENT_UID:-10001}" "$USERS_DIR"/*/
    echo "compose-init: users and ACLs of every role made"
}

case ${1:-} in
    secrets) secrets ;;
    roles) roles ;;
    *)
        echo "usage: $0 {secrets|roles}" >&2
        exit 2
        ;;
esac
