#!/usr/bin/env bash
# The server's CPU per request, counted in instructions (callgrind),
# not timed: reproducible on a busy machine, and only the server counts.
#
#   benches/callgrind.sh [N=2000] [OUTDIR]
#
# Starts the release binary under `valgrind --tool=callgrind` on a fresh
# SQLite database (as wrk_compare.sh does: one IAM, one token, the rate
# limit out of the way, default logging to a file), creates 20 users, warms
# up, then counts exactly N `GET /Users/{id}`, N
# `GET /Users?filter=userName eq "..."` and N/10 pages of 100
# `GET /Users?startIndex=R&count=100` (R at random among 2,000 users, as
# wrk_compare's list phase; the 1,980 more users are created by /Bulk
# before the count starts), one curl process, one kept-alive connection,
# sequential; instrumentation is on only around each phase, and each
# phase is dumped on its own. Prints instructions per request
# for each phase and the top functions by inclusive cost; the dumps stay
# in OUTDIR for `callgrind_annotate`.
#
# Environment: BIN (default target/release/scim-bridge, built if absent),
# LOG_FORMAT (pretty or json; default pretty, as operators and wrk_compare
# run it), TOP (how many functions to list, default 25), PHASES (which of
# get, filter, list, create, patch, delete to count, default the three
# reads; the writes, as in `PHASES="create patch delete"`: creates with a
# name and a work email, then a PATCH of `title` of each, then a DELETE of
# each, one at a time, so every write commits alone). CLIENTS (default 1):
# how many requests are in flight at once (curl --parallel). STREAM=webhook:
# an enabled webhook stream of every event type to a receiver on loopback
# (a Python HTTP server answering 204, outside the count), created before
# the warm-up; each phase is dumped only once the receiver holds every
# event of the requests made so far, so the count includes their
# delivery (issue 19: the server's instructions per write with a stream
# against none).
set -eu
N=${1:-2000}
OUT=${2:-$(mktemp -d)}
mkdir -p "$OUT"
TOP=${TOP:-25}
PHASES=${PHASES:-get filter list}
LIST_USERS=2000
cd "$(git rev-parse --show-toplevel)"
BIN=${BIN:-$PWD/target/release/scim-bridge}
[ -x "$BIN" ] || cargo build --release -q
for tool in valgrind callgrind_control callgrind_annotate curl; do
  command -v $tool >/dev/null || { echo "needs $tool"; exit 1; }
done

DB="sqlite://$OUT/bench.db"
"$BIN" iam create bench --database "$DB" >/dev/null
TOKEN=$("$BIN" token create --iam bench --database "$DB" 2>/dev/null | tail -n 1)
PORT=$((20000 + RANDOM % 20000))
BASE=http://127.0.0.1:$PORT/scim/v2
CLIENTS=${CLIENTS:-1}
STREAM=${STREAM:-}
if [ -n "$STREAM" ]; then
  ADMIN=$("$BIN" admin bootstrap --email bench@example.com --database "$DB" 2>/dev/null | tail -n 1)
  HOOK_PORT=$((PORT + 1))
  : >"$OUT/received"
  python3 - "$HOOK_PORT" "$OUT/received" <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
out = open(sys.argv[2], "a", buffering=1)
class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        out.write(self.headers.get("webhook-id", "") + "\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
PY
  HOOK=$!
fi

SCIM_BRIDGE_RATE_LIMIT_PER_SECOND=1000000 SCIM_BRIDGE_RATE_LIMIT_BURST=1000000 \
  SCIM_BRIDGE_ADMIN_RATE_LIMIT_PER_SECOND=0 \
  SCIM_BRIDGE_EVENT_ALLOW_HTTP='["127.0.0.1"]' SCIM_BRIDGE_EVENT_ALLOW_PRIVATE='["127.0.0.1"]' \
  valgrind --tool=callgrind --instr-atstart=no \
  --callgrind-out-file="$OUT/callgrind.out" \
  "$BIN" --log-format "${LOG_FORMAT:-pretty}" serve --bind "127.0.0.1:$PORT" --database "$DB" \
  >"$OUT/server.stdout" 2>"$OUT/server.log" &
PID=$!
trap 'kill $PID ${HOOK:-} 2>/dev/null || true' EXIT
for _ in $(seq 600); do
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
  sleep 0.2
done

AUTH="Authorization: Bearer $TOKEN"
: >"$OUT/ids"
for i in $(seq 20); do
  curl -sf -H "$AUTH" -H 'Content-Type: application/scim+json' \
    -d "{\"userName\":\"bench.user$i@example.com\"}" -w '\n' "$BASE/Users" |
    sed -n 's/.*"id":"\([0-9a-f-]*\)".*/\1/p' >>"$OUT/ids"
done
[ "$(wc -l <"$OUT/ids")" = 20 ] || { echo "creating users failed"; exit 1; }
case " $PHASES " in *" list "*)
  # The list's users, by /Bulk in requests of 1,000 operations.
  i=21
  while [ $i -le $LIST_USERS ]; do
    end=$((i + 999 < LIST_USERS ? i + 999 : LIST_USERS))
    ops=$(seq $i $end | sed 's/.*/{"method":"POST","path":"\/Users","bulkId":"b&","data":{"userName":"bench.user&@example.com"}}/' | paste -sd,)
    echo "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:BulkRequest\"],\"Operations\":[$ops]}" >"$OUT/bulk.json"
    curl -sf -H "$AUTH" -H 'Content-Type: application/scim+json' --data-binary @"$OUT/bulk.json" \
      -o /dev/null "$BASE/Bulk" || { echo "bulk create failed"; exit 1; }
    i=$((end + 1))
  done
esac

# curl config files: N requests each on one connection (`next` between
# requests, so that each write carries its own body).
urls() {  # COUNT KIND
  local n=$1 kind=$2 i=0 created=()
  mapfile -t ids <"$OUT/ids"
  case $kind in patch | delete)
    mapfile -t created < <(for f in "$OUT/created.$RUN"/*; do
      grep -o '"id":"[0-9a-f-]*"' "$f" | head -n 1 | cut -d '"' -f 4
    done)
    [ "${#created[@]}" -ge "$n" ] || { echo "$kind: only ${#created[@]} users created" >&2; exit 1; }
  esac
  mkdir -p "$OUT/created.$RUN"
  while [ $i -lt "$n" ]; do
    echo "header = \"$AUTH\""
    echo 'header = "Content-Type: application/scim+json"'
    local out=/dev/null
    case $kind in
      get) echo "url = \"$BASE/Users/${ids[i % 20]}\"" ;;
      filter) echo "url = \"$BASE/Users?filter=userName%20eq%20%22bench.user$((i % 20 + 1))%40example.com%22\"" ;;
      list) echo "url = \"$BASE/Users?startIndex=$((RANDOM % (LIST_USERS - 100) + 1))&count=100\"" ;;
      create)
        # As identity providers send them: a name and one work email.
        local u="w.$RUN.$i@example.com"
        echo "url = \"$BASE/Users\""
        echo "data = \"{\\\"userName\\\":\\\"$u\\\",\\\"name\\\":{\\\"givenName\\\":\\\"W\\\",\\\"familyName\\\":\\\"$i\\\"},\\\"emails\\\":[{\\\"value\\\":\\\"$u\\\",\\\"type\\\":\\\"work\\\",\\\"primary\\\":true}]}\""
        out="$OUT/created.$RUN/$i" ;;
      patch)
        echo "url = \"$BASE/Users/${created[i]}\""
        echo 'request = "PATCH"'
        echo 'data = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"replace\",\"path\":\"title\",\"value\":\"Engineer\"}]}"' ;;
      delete)
        echo "url = \"$BASE/Users/${created[i]}\""
        echo 'request = "DELETE"' ;;
    esac
    echo "output = \"$out\""
    i=$((i + 1))
    if [ $i -lt "$n" ]; then echo next; fi
  done
}
run() {  # KIND COUNT: every answer must be the phase's success
  urls "$2" "$1" >"$OUT/$1.curl"
  local codes want=200
  case $1 in create) want=201 ;; delete) want=204 ;; esac
  local parallel=()
  [ "$CLIENTS" -gt 1 ] && parallel=(-Z --parallel-max "$CLIENTS")
  codes=$(curl -s "${parallel[@]}" -K "$OUT/$1.curl" -w '%{http_code}\n' | sort | uniq -c)
  [ "$(echo "$codes" | awk -v w=$want '$2 != w' | wc -l)" = 0 ] || { echo "$1: $codes"; exit 1; }
}

count() {  # KIND: how many requests its phase counts
  if [ "$1" = list ]; then echo $((N / 10)); else echo "$N"; fi
}
EVENTS=0
delivered() {  # waits until the receiver holds every event made so far
  [ -n "$STREAM" ] || return 0
  for _ in $(seq 3000); do
    [ "$(sort -u "$OUT/received" | wc -l)" -ge "$EVENTS" ] && return 0
    sleep 0.2
  done
  echo "the receiver got $(sort -u "$OUT/received" | wc -l) of $EVENTS events"; exit 1
}
events_of() {  # KIND COUNT: how many events its requests make
  case $1 in create | patch | delete) echo "$2" ;; *) echo 0 ;; esac
}
if [ -n "$STREAM" ]; then
  curl -sf -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    -d "{\"endpoint\":\"http://127.0.0.1:$HOOK_PORT/hook\",\"events\":[\"*\"]}" \
    -o /dev/null "http://127.0.0.1:$PORT/api/v1/event-streams" || { echo "creating the stream failed"; exit 1; }
fi
RUN=warm
for phase in $PHASES; do
  n=$(($(count "$phase") / 10 + 1))
  run "$phase" $n
  EVENTS=$((EVENTS + $(events_of "$phase" $n)))
done
delivered
RUN=counted
callgrind_control -i on $PID >/dev/null
for phase in $PHASES; do
  run "$phase" "$(count "$phase")"
  EVENTS=$((EVENTS + $(events_of "$phase" "$(count "$phase")")))
  delivered
  callgrind_control -d "$phase" $PID >/dev/null
done
callgrind_control -i off $PID >/dev/null
kill $PID ${HOOK:-}
wait $PID 2>/dev/null || true
trap - EXIT

for phase in $PHASES; do
  f=$(grep -l "^desc: Trigger: dump $phase\$" "$OUT"/callgrind.out.* | head -n 1)
  total=$(sed -n 's/^summary: //p' "$f" | awk '{print $1}')
  n=$(count "$phase")
  echo "== $phase: $((total / n)) instructions per request ($total for $n; $f)"
  # Inclusive costs per request, each function once, from the top; a
  # future polled within itself counts twice and is left out (over 100%).
  callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null |
    grep -E '^ *[0-9,]+ \( *[0-9.]+%\)  ' | grep -v -e 'PROGRAM TOTALS' -e "'2" |
    grep -v -E '^ *[0-9,]+ \( *[0-9]{3,}\.[0-9]+%\)' |
    sed -E 's/^ *([0-9,]+) \( *[0-9.]+%\)  /\1 /; s#[^ ]*/\.cargo/registry/src/[^/]+/##; s#/rustc/[0-9a-f]+/library/##; s# \[[^]]*\]$##' |
    awk -v n="$n" '{x = $1; gsub(",", "", x); $1 = ""; printf "%9d %s\n", x / n, substr($0, 2)}' |
    awk '!seen[$2]++' | head -n "$TOP" | cut -c1-160
done
echo "(dumps and logs in $OUT)"
