# Schemathesis against a real test server: every operation of
# /api/openapi.json with generated input (valid and invalid), failing on any
# 5xx, dropped connection, or response the document does not describe.
# Needs setup_schemathesis (setup.sh) and a debug build.

SCHEMATHESIS_EXAMPLES=${SCHEMATHESIS_EXAMPLES:-120}

run_schemathesis() {
  local dir port base key status=0
  dir=$(mktemp -d)
  port=$(free_port)
  base="http://127.0.0.1:$port"
  export TRAIL_DATABASE_URL="sqlite://$dir/schemathesis.db"
  target/debug/trail workspace add acme --name Acme >/dev/null
  key=$(target/debug/trail key create --workspace acme --scope ingest,read | tail -n 1)
  LEPTOS_SITE_ADDR="127.0.0.1:$port" RUST_LOG=warn target/debug/trail serve >"$dir/server.log" 2>&1 &
  local server=$!
  for _ in $(seq 100); do
    curl -fs -o /dev/null "$base/api/system/health" && break
    sleep 0.1
  done
  (cd "$dir" && "$OLDPWD/target/venv/bin/schemathesis" run "$base/api/openapi.json" \
      --header "Authorization: Bearer $key" \
      --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
      --max-examples "$SCHEMATHESIS_EXAMPLES" --seed 20261202 --workers 2 --request-timeout 10 \
      --max-time 75 --suppress-health-check all --no-color) || status=$?
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  if [ "$status" != 0 ]; then
    echo "--- server log" >&2
    tail -n 40 "$dir/server.log" >&2
  fi
  rm -rf "$dir"
  unset TRAIL_DATABASE_URL
  return "$status"
}
