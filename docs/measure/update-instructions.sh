#!/usr/bin/env bash
# Counts the CPU instructions PostgreSQL spends on a writer's UPDATE with the
# change feed's triggers enabled and disabled, with callgrind: a count, not a
# time, so it is the same from run to run whatever else the machine does.
#
#   bash docs/measure/update-instructions.sh      (from the repository's root)
#
# It starts a private PostgreSQL cluster in a temporary directory (on
# 127.0.0.1, port $PORT, default 55432), applies the migrations and seeds
# 10,000 tickets with the ticketstream of this checkout, then stops it and
# runs single-user servers under callgrind: N one-row UPDATEs (each its own
# transaction, a prepared statement as a driver sends it), one UPDATE of
# 2,000 rows, and one that moves 2,000 tickets to another team. The
# server's start is counted alone and taken off. Needs valgrind and
# PostgreSQL's server binaries (Debian: postgresql, valgrind).
set -euo pipefail

N=${N:-2000}
PORT=${PORT:-55432}
BIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$BIN/postgres" ] || { echo "no PostgreSQL server binaries (set PGBIN)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }

dir=$(mktemp -d)
# PostgreSQL refuses to run as root: as root, run it as postgres.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$dir"
cleanup() {
  as_pg "$BIN/pg_ctl" -D "$dir/data" stop -m immediate >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

as_pg "$BIN/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
start_cluster() {
  as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $PORT -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
}
start_cluster
url="postgres://postgres@127.0.0.1:$PORT/cost?sslmode=disable"
psql() { as_pg "$BIN/psql" -h "$dir" -p "$PORT" -U postgres -qAt "$@"; }
# copies PREFIX: PREFIX_off and PREFIX_on, copies of the seeded database,
# the feed's triggers disabled in the first; the cluster is stopped after.
copies() {
  for variant in off on; do
    psql -c "CREATE DATABASE $1_$variant TEMPLATE cost" postgres
  done
  psql -c "ALTER TABLE tickets DISABLE TRIGGER USER" "$1_off"
  as_pg "$BIN/pg_ctl" -D "$dir/data" -w stop >/dev/null
}
psql -c "CREATE DATABASE cost" postgres
go run ./cmd/ticketstream migrate --log-level error --database "$url" >/dev/null
go run ./cmd/ticketstream seed --log-level error --database "$url" --count 10000 >/dev/null 2>&1
copies cost

python3 - "$N" > "$dir/one-row.sql" <<'PY'
import random, sys
random.seed(42)
print("PREPARE u(text, bigint) AS UPDATE tickets SET subject = $1, updated_at = clock_timestamp() WHERE id = $2")
for _ in range(int(sys.argv[1])):
    print(f"EXECUTE u('bench {random.getrandbits(32)}', {random.randint(1, 10000)})")
PY
echo "UPDATE tickets SET subject = subject || '.', updated_at = clock_timestamp() WHERE id <= 2000" > "$dir/bulk.sql"
echo "UPDATE tickets SET team = team || ' (moved)', updated_at = clock_timestamp() WHERE id <= 2000" > "$dir/move.sql"
: > "$dir/none.sql"
chmod 644 "$dir"/*.sql

# instructions DB SCRIPT: what a single-user server executing SCRIPT on DB
# counts, after a VACUUM, with synchronous_commit off as a busy writer has it.
instructions() {
  as_pg "$BIN/postgres" --single -D "$dir/data" "$1" <<<"VACUUM tickets" >/dev/null 2>&1
  as_pg valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$BIN/postgres" --single -D "$dir/data" -c synchronous_commit=off "$1" <"$2" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

start=$(instructions cost_off "$dir/none.sql")
declare -A one bulk move
for variant in off on; do
  one[$variant]=$(( ($(instructions "cost_$variant" "$dir/one-row.sql") - start) / N ))
done
# Each bulk run on a fresh copy: the rows it rewrites are then in the same
# state for both.
start_cluster
copies bulk
start_cluster
copies move
for variant in off on; do
  bulk[$variant]=$(( ($(instructions "bulk_$variant" "$dir/bulk.sql") - start) / 2000 ))
  move[$variant]=$(( ($(instructions "move_$variant" "$dir/move.sql") - start) / 2000 ))
done

printf '%-32s %12s %12s %8s\n' "instructions per row" "feed off" "feed on" "on/off"
printf '%-32s %12d %12d %8s\n' "one-row UPDATE ($N, prepared)" "${one[off]}" "${one[on]}" \
  "$(awk "BEGIN{printf \"%.3f\", ${one[on]}/${one[off]}}")"
printf '%-32s %12d %12d %8s\n' "one UPDATE of 2,000 rows" "${bulk[off]}" "${bulk[on]}" \
  "$(awk "BEGIN{printf \"%.3f\", ${bulk[on]}/${bulk[off]}}")"
printf '%-32s %12d %12d %8s\n' "one moving 2,000 to a new team" "${move[off]}" "${move[on]}" \
  "$(awk "BEGIN{printf \"%.3f\", ${move[on]}/${move[off]}}")"
