# Throw-away PostgreSQL for tests: `pg_start` runs initdb/pg_ctl of the
# installed PostgreSQL in a temp dir on a free port and exports
# TRAIL_TEST_POSTGRES_URL; `pg_stop` stops it and removes the directory.
# initdb refuses to run as root, so as root the server runs as `postgres`.

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

# The words that run a command as the cluster's owner.
as_pg_user_words() {
  if [ "$(id -u)" = 0 ]; then echo runuser -u postgres --; fi
}

as_pg_user() {
  $(as_pg_user_words) "$@"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# pg_ctl's command line that starts the cluster (also after a stop).
pg_ctl_start_words() {
  echo "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
    -o "'-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=500 -c shared_buffers=128MB'" start
}

pg_start() {
  if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
    echo "PostgreSQL server binaries not found (set PG_BIN)" >&2
    return 1
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  fi
  PG_DIR=$(mktemp -d /tmp/trail-pg.XXXXXX)
  PG_PORT=$(free_port)
  [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
  as_pg_user "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  sh -c "$(pg_start_command)" >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
  export TRAIL_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on port $PG_PORT ($PG_DIR)"
}

# Shell commands that stop and start the running cluster, keeping its data
# (the outage test runs them).
pg_stop_command() {
  echo "$(as_pg_user_words) $PG_BIN/pg_ctl -D $PG_DIR/data -m fast -w stop"
}

pg_start_command() {
  echo "$(as_pg_user_words) $(pg_ctl_start_words)"
}

pg_stop() {
  [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ] || return 0
  if [ -d "$PG_DIR/replica" ]; then
    as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DIR/replica" -m fast -w stop >/dev/null 2>&1 || true
  fi
  as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
  unset PG_DIR TRAIL_TEST_POSTGRES_URL TRAIL_TEST_POSTGRES_READ_URL
}

# A streaming replica of the running cluster (`pg_basebackup -R`, a second
# postgres on another port), for the tests of TRAIL_DATABASE_READ_URL: exports
# TRAIL_TEST_POSTGRES_READ_URL. Commits then wait until the replica has
# applied them (synchronous_commit = remote_apply), so a test reads its own
# writes through the replica; `pg_replica_stop` undoes both.
pg_replica_start() {
  PG_REPLICA_PORT=$(free_port)
  as_pg_user "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U postgres -D "$PG_DIR/replica" -R -X stream \
    >"$PG_DIR/basebackup.log" 2>&1 || { cat "$PG_DIR/basebackup.log" >&2; return 1; }
  as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DIR/replica" -l "$PG_DIR/replica.log" -w \
    -o "-p $PG_REPLICA_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=500 -c recovery_init_sync_method=syncfs" start \
    >/dev/null || { cat "$PG_DIR/replica.log" >&2; return 1; }
  pg_sql "ALTER SYSTEM SET synchronous_standby_names = '*'" "ALTER SYSTEM SET synchronous_commit = 'remote_apply'" \
    "SELECT pg_reload_conf()" >/dev/null
  for _ in $(seq 100); do
    [ "$(pg_sql "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")" = 1 ] && break
    sleep 0.1
  done
  export TRAIL_TEST_POSTGRES_READ_URL="postgres://postgres@127.0.0.1:$PG_REPLICA_PORT/postgres"
  echo "PostgreSQL replica on port $PG_REPLICA_PORT"
}

pg_replica_stop() {
  [ -n "${PG_REPLICA_PORT:-}" ] || return 0
  pg_sql "ALTER SYSTEM RESET synchronous_standby_names" "ALTER SYSTEM RESET synchronous_commit" "SELECT pg_reload_conf()" \
    >/dev/null
  as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DIR/replica" -m fast -w stop >/dev/null 2>&1 || true
  unset PG_REPLICA_PORT TRAIL_TEST_POSTGRES_READ_URL
}

# Runs each statement on the primary; prints the last one's result.
pg_sql() {
  local statement
  for statement in "$@"; do
    "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -Atqc "$statement"
  done
}
