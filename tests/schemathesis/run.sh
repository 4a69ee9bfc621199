#!/usr/bin/env bash
# Property-based API testing: schemathesis against the server's own
# GET /openapi.json (docs/testing.md, "schemathesis").
#
# Starts the debug binary (or $DESKPLANE_BIN) on a free loopback port with a
# temporary SQLite database, the simulator and fixed bootstrap credentials;
# seeds desktops, users, a pool and a token (seed.py, through the official SDK);
# then runs `schemathesis run` with every request signed by the SDK's own signer
# (hooks.py). Every operation gets at most $ST_MAX_EXAMPLES generated cases
# with a fixed seed; the checks below must all pass. The server must stop on
# SIGTERM with exit 0 and must not have panicked.
#
# Usage: tests/schemathesis/run.sh [OUT_DIR]   (reports and the server log; default a temp dir)
# Needs: .venv from requirements-test.txt, and `cargo build`.

set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
ROOT=$(pwd)
BIN=${DESKPLANE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/deskplane}
VENV=${VENV:-$ROOT/.venv}
OUT=${1:-$(mktemp -d)}
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-100}
SEED=${ST_SEED:-20251122}
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance

[ -x "$BIN" ] || { echo "$BIN does not exist: run cargo build first"; exit 2; }
[ -x "$VENV/bin/schemathesis" ] || { echo "$VENV/bin/schemathesis is missing: pip install -r requirements-test.txt"; exit 2; }
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
LOG=$OUT/deskplane.log

# The server's settings only: nothing from the caller's DESKPLANE_* leaks in.
for v in $(compgen -e | grep '^DESKPLANE_'); do unset "$v"; done
export DESKPLANE_LISTEN=127.0.0.1:0
export DESKPLANE_DATABASE_URL="sqlite://$WORK/d.db"
export DESKPLANE_DATA_DIR=$WORK
export DESKPLANE_LOG=info
export DESKPLANE_JOBS__SHUTDOWN_GRACE_SECS=5
for op in CREATE START STOP REBOOT HIBERNATE REBUILD LOGOFF DELETE; do
    export "DESKPLANE_SIM__${op}_MS=20"
done
export DESKPLANE_SIM__SOFT_TIMEOUT_MS=2000
# Fixed identity (the formats the server checks), shared with seed.py and hooks.py.
export DP_PROJECT=7c3e5a1f9b2d4c6e8a0f1b3d5e7a9c2e
export DP_AK=DPSCHEMATHESIS000001
export DP_SK=dpSchemathesisSecretKey0000000000000001
export DP_API_USER=fuzzer
export DP_API_PASSWORD=fuzzer-password-1
export DESKPLANE_BOOTSTRAP__PROJECT_ID=$DP_PROJECT
export DESKPLANE_BOOTSTRAP__ACCESS_KEY=$DP_AK
export DESKPLANE_BOOTSTRAP__SECRET_KEY=$DP_SK
# The SDK writes ~/.huaweicloud on first use.
export HOME=$WORK

PID=
stop_server() {
    [ -n "$PID" ] || return 0
    kill -TERM "$PID" 2>/dev/null
    local rc=0
    wait "$PID" || rc=$?
    PID=
    return "$rc"
}
trap 'stop_server >/dev/null 2>&1; rm -rf "$WORK"' EXIT

"$BIN" serve >"$LOG" 2>&1 &
PID=$!
URL=
for _ in $(seq 1 300); do
    URL=$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$LOG" | head -n 1 | cut -d' ' -f3)
    [ -n "$URL" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$URL" ]; then
    echo "deskplane did not start; its log:"
    tail -n 40 "$LOG"
    exit 1
fi
echo "server: $URL (log $LOG)"

"$BIN" api-users create --project "$DP_PROJECT" --name "$DP_API_USER" --password "$DP_API_PASSWORD" >/dev/null ||
    { echo "api-users create failed"; exit 1; }
if ! "$VENV/bin/python" tests/schemathesis/seed.py "$URL" >"$WORK/seed.json"; then
    echo "seeding failed"
    exit 1
fi
export DP_SEED=$WORK/seed.json

start=$SECONDS
rc=0
# From the temporary directory: schemathesis keeps a cache in ./.schemathesis.
(cd "$WORK" && SCHEMATHESIS_HOOKS=$ROOT/tests/schemathesis/hooks.py \
    "$VENV/bin/schemathesis" run "$URL/openapi.json" \
    --url "$URL" \
    --checks "$CHECKS" \
    --phases examples,coverage,fuzzing \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --generation-database none \
    --workers 1 \
    --request-timeout 10 \
    --no-color \
    --report junit \
    --report-dir "$OUT") || rc=$?
echo "schemathesis: exit $rc after $((SECONDS - start))s"

stop_rc=0
stop_server || stop_rc=$?
if [ "$stop_rc" != 0 ]; then
    echo "deskplane exited $stop_rc on SIGTERM (expected 0); log $LOG"
    rc=1
fi
if grep -q 'panicked' "$LOG"; then
    echo "deskplane panicked:"
    grep -m 5 -A 3 'panicked' "$LOG"
    rc=1
fi
exit "$rc"
