#!/usr/bin/env bash
# Users and ACLs of stream-al's roles on the broker that `KAFKA_SECURITY=sasl_ssl deploy/kafka.sh
# start` runs (see stream_al/stream/access.py for what each role may do).
#
#   deploy/kafka-roles.sh all                 worker, operator, producer, expert, and a vendor
#                                             for each name in KAFKA_VENDORS
#   deploy/kafka-roles.sh ROLE [VENDOR]       one role: producer | vendor NAME | expert |
#                                             worker | operator
#
# Each user's password is made once into $KAFKA_USERS_DIR/<user>/password (mode 600, in a
# directory of its own so a container can be given exactly one) and kept; hand that file to the
# client (kafka.security.password_file). Connects as the super user "admin" with the password
# and CA deploy/kafka.sh made ($KAFKA_DATA_DIR/tls).
#
# Environment (defaults in brackets): KAFKA_PORT [9092], STREAM_AL_CACHE, KAFKA_DATA_DIR (as in
# deploy/kafka.sh), KAFKA_BOOTSTRAP [127.0.0.1:$KAFKA_PORT], KAFKA_USERS_DIR
# [$KAFKA_DATA_DIR/users], KAFKA_PYTHON [python3] (with stream_al importable), KAFKA_VENDORS
# [""], STREAM_AL_CONFIG [""]: YAML settings naming the topics (kafka.topics, kafka.app_id).
set -euo pipefail

CACHE=${STREAM_AL_CACHE:-$HOME/.cache/stream-al}
PORT=${KAFKA_PORT:-9092}
DATA_DIR=${KAFKA_DATA_DIR:-$CACHE/kafka-data-$PORT}
PYTHON=${KAFKA_PYTHON:-python3}
USERS_DIR=${KAFKA_USERS_DIR:-$DATA_DIR/users}
BOOTSTRAP=${KAFKA_BOOTSTRAP:-127.0.0.1:$PORT}

die() {
    echo "kafka-roles: error: $*" >&2
    exit 1
}

[[ -f $DATA_DIR/tls/admin.password ]] || die "no $DATA_DIR/tls/admin.password: start the broker with KAFKA_SECURITY=sasl_ssl deploy/kafka.sh start"

one() {  # one ROLE [VENDOR]
    local user=$1
    [[ $1 == vendor ]] && user="vendor-${2:?the vendor role needs a name}"
    local password_file=$USERS_DIR/$user/password
    mkdir -p "$USERS_DIR/$user"
    chmod 700 "$USERS_DIR/$user"
    if [[ ! -s $password_file ]]; then
        (umask 077 && "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(24))' >"$password_file")
    fi
    local config=()
    [[ -n ${STREAM_AL_CONFIG:-} ]] && config=(--config "$STREAM_AL_CONFIG")
    STREAM_AL_KAFKA__BOOTSTRAP=$BOOTSTRAP \
        STREAM_AL_KAFKA__SECURITY__PROTOCOL=SASL_SSL \
        STREAM_AL_KAFKA__SECURITY__USERNAME=admin \
        STREAM_AL_KAFKA__SECURITY__PASSWORD_FILE=$DATA_DIR/tls/admin.password \
        STREAM_AL_KAFKA__SECURITY__CA_FILE=$DATA_DIR/tls/ca.pem \
        "$PYTHON" -m stream_al.stream.access "$@" --password-file "$password_file" "${config[@]}"
}

case ${1:-} in
    all)
        for role in worker operator producer expert; do one "$role"; done
        for vendor in ${KAFKA_VENDORS:-}; do one vendor "$vendor"; done
        ;;
    producer | expert | worker | operator) one "$1" ;;
    vendor) one vendor "${2:-}" ;;
    *)
        echo "usage: $0 {all|producer|vendor NAME|expert|worker|operator}" >&2
        exit 2
        ;;
esac
