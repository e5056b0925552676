# Outside tools against a real test server (a debug build on a fresh SQLite
# file, with an ingest+read key): Schemathesis over every operation of
# /api/openapi.json, the official CloudEvents SDK sending its own events, and
# an independent Python check of record proofs.
# Needs setup_python_tools (setup.sh) and a debug build.

SCHEMATHESIS_EXAMPLES=${SCHEMATHESIS_EXAMPLES:-120}

# Starts the server; sets API_BASE, API_KEY, API_DIR and API_SERVER.
start_api_server() {
  local port
  API_DIR=$(mktemp -d)
  port=$(free_port)
  API_BASE="http://127.0.0.1:$port"
  export TRAIL_DATABASE_URL="sqlite://$API_DIR/api.db" TRAIL_SIGNING_KEY_FILE="$API_DIR/signing.key"
  target/debug/trail workspace add acme --name Acme >/dev/null
  API_KEY=$(target/debug/trail key create --workspace acme --scope ingest,read | tail -n 1)
  LEPTOS_SITE_ADDR="127.0.0.1:$port" RUST_LOG=warn target/debug/trail serve >"$API_DIR/server.log" 2>&1 &
  API_SERVER=$!
  unset TRAIL_DATABASE_URL TRAIL_SIGNING_KEY_FILE
  for _ in $(seq 100); do
    curl -fs -o /dev/null "$API_BASE/api/system/health" && return 0
    sleep 0.1
  done
  echo "the test server did not start" >&2
  return 1
}

stop_api_server() {
  [ -n "${API_SERVER:-}" ] || return 0
  kill "$API_SERVER" 2>/dev/null || true
  wait "$API_SERVER" 2>/dev/null || true
  rm -rf "$API_DIR"
  unset API_SERVER
}

# Runs a check; on failure shows the end of the server's log.
with_server_log() {
  "$@" && return 0
  echo "--- server log" >&2
  tail -n 40 "$API_DIR/server.log" >&2
  return 1
}

# Every operation with generated input (valid and invalid), failing on any
# 5xx, dropped connection, or response the document does not describe. But
# the live stream: a valid request never ends, which Schemathesis can only
# report as a timeout (tests/api/stream.rs checks its input instead).
run_schemathesis() {
  (cd "$API_DIR" && "$OLDPWD/target/venv/bin/schemathesis" run "$API_BASE/api/openapi.json" \
    --header "Authorization: Bearer $API_KEY" --exclude-path /api/v1/events/stream \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "$SCHEMATHESIS_EXAMPLES" --seed 20261202 --workers 2 --request-timeout 10 \
    --max-time 75 --suppress-health-check all --no-color)
}

run_cloudevents_sdk() {
  TRAIL_API="$API_BASE" TRAIL_KEY="$API_KEY" target/venv/bin/python tests/sdk/cloudevents_sdk.py
}

run_proof_check() {
  TRAIL_API="$API_BASE" TRAIL_KEY="$API_KEY" target/venv/bin/python tests/sdk/proof_check.py
}
