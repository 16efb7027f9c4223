#!/usr/bin/env bash
# Install PostgreSQL (Debian package) if needed, start a private server on 127.0.0.1, create a
# database and a user, and print its URL on the last stdout line:
#     postgresql://USER:PASS@127.0.0.1:PORT/DB
# Everything else goes to stderr, so `URL=$(.ci/postgres.sh | tail -1)` works.
# Idempotent: a second call reuses the cluster and the running server.
#
# Settings (environment):  GTN_NAS_PG_DIR  (cluster, socket and log; default /tmp/gtn-nas-pg)
#                          GTN_NAS_PG_PORT (default 55432; the system cluster's 5432 is left alone)
#                          GTN_NAS_PG_USER, GTN_NAS_PG_PASS, GTN_NAS_PG_DB (default gtn_nas each)
# Stop the server:  runuser -u postgres -- /usr/lib/postgresql/*/bin/pg_ctl -D $GTN_NAS_PG_DIR/data stop
# (without runuser when not root).
set -euo pipefail

DIR=${GTN_NAS_PG_DIR:-/tmp/gtn-nas-pg}
PORT=${GTN_NAS_PG_PORT:-55432}
USER_=${GTN_NAS_PG_USER:-gtn_nas}
PASS=${GTN_NAS_PG_PASS:-gtn_nas}
DB=${GTN_NAS_PG_DB:-gtn_nas}

log() { echo "postgres.sh: $*" >&2; }
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

BIN=$(pg_bin)
if [ -z "$BIN" ]; then
  log "installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq postgresql >&2
  BIN=$(pg_bin)
  [ -n "$BIN" ] || { log "postgresql installed but no /usr/lib/postgresql/*/bin found"; exit 1; }
fi

# The server refuses to run as root: as root, run it as the package's `postgres` user.
AS=()
if [ "$(id -u)" = 0 ]; then
  AS=(runuser -u postgres --)
  mkdir -p "$DIR" && chown postgres: "$DIR"
else
  mkdir -p "$DIR"
fi

if [ ! -f "$DIR/data/PG_VERSION" ]; then
  log "creating a cluster in $DIR/data"
  "${AS[@]}" "$BIN/initdb" -D "$DIR/data" -U postgres -E UTF8 --auth-local=trust --auth-host=scram-sha-256 >&2
fi

if ! "${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
  log "starting the server on 127.0.0.1:$PORT (log $DIR/server.log)"
  "${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR" start >&2
fi

# Administration over the Unix socket (trusted); users connect over TCP with a password.
psql_admin() { "${AS[@]}" "$BIN/psql" -h "$DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$USER_'")" != 1 ]; then
  psql_admin -c "CREATE ROLE \"$USER_\" LOGIN PASSWORD '$PASS'" >&2
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
  psql_admin -c "CREATE DATABASE \"$DB\" OWNER \"$USER_\"" >&2
fi

URL="postgresql://$USER_:$PASS@127.0.0.1:$PORT/$DB"
"$BIN/psql" "$URL" -qtA -c "SELECT 1" >/dev/null || { log "cannot connect to $URL"; exit 1; }
log "ready"
echo "$URL"
