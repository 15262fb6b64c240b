#!/usr/bin/env bash
# Runs the bench: the Go benchmarks (token verification, token endpoint,
# HTTP routes plain vs guarded, token endpoint per store, in process),
# summarised with benchstat when it can be fetched, and, when wrk is
# installed, each token endpoint and each route under load over loopback.
# The store benchmarks use PORTCULLIS_TEST_POSTGRES, _MYSQL and _REDIS
# (see ../README.md) and skip a backend whose variable is unset.
#
#   ./run.sh                  # everything, COUNT=6 runs of each benchmark
#   COUNT=1 ./run.sh          # one run (what README.md's table is)
#   BENCH=Verify/Bare ./run.sh  # only benchmarks matching this regexp
#   WRK=0 ./run.sh            # skip the loopback load even if wrk is there
#   WRK_ONLY=http ./run.sh    # only the loopback load of the routes (or =endpoint)
#   WRK_ONLY=store ./run.sh   # only the token endpoint over each store, by wrk
#                             # (STORES="memory sqlite postgres mysql redis",
#                             # STORE_IMPL=portcullis-eddsa; a store whose
#                             # variable is unset is skipped)
#   PAIRS=5 WRK_DURATION=10s  # rounds of plain/guarded per framework, length of a wrk run
#   CONTROL=1.2us ./run.sh    # also a plain route that spins 1.2 µs per request
#
# Results go to $OUT (default ./results, which git ignores).
set -euo pipefail
cd "$(dirname "$0")"

COUNT=${COUNT:-6}
BENCH=${BENCH:-}
BENCHTIME=${BENCHTIME:-1s}
OUT=${OUT:-results}
WRK=${WRK:-1}
WRK_ONLY=${WRK_ONLY:-}
STORES=${STORES:-memory sqlite postgres mysql redis}
STORE_IMPL=${STORE_IMPL:-portcullis-eddsa}
WRK_DURATION=${WRK_DURATION:-10s}
PAIRS=${PAIRS:-5}
CONTROL=${CONTROL:-}
PORT=${PORT:-18181}
mkdir -p "$OUT"
: >"$OUT/bench.txt"
bin=$(mktemp -d)
server=
cleanup() {
	if [ -n "$server" ]; then
		kill "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
	fi
	rm -rf "$bin"
}
trap cleanup EXIT
go build -o "$bin/endpoint-server" ./cmd/endpoint-server
go build -o "$bin/http-server" ./cmd/http-server
impls=$("$bin/endpoint-server" -list)
routes=$("$bin/http-server" -list)

gobench() {
	echo "== go test -bench '$1' -count $COUNT -benchtime $BENCHTIME ($(nproc) cores)"
	go test -run '^$' -bench "$1" -count "$COUNT" -benchtime "$BENCHTIME" . | tee -a "$OUT/bench.txt"
}

if [ -n "$WRK_ONLY" ]; then
	:
elif [ -n "$BENCH" ]; then
	gobench "$BENCH"
else
	# One process for verification and one per endpoint setup: go-oauth2's
	# token store keeps a goroutine and every token it ever issued for the
	# life of the process, which would tax whatever ran after it.
	gobench '^BenchmarkVerify$'
	for impl in $impls; do
		gobench "^BenchmarkEndpoint\$/^$impl\$"
	done
	gobench '^BenchmarkHTTP$'
	gobench '^BenchmarkEndpointStore$'
fi

if [ "$COUNT" -gt 1 ] && [ -z "$WRK_ONLY" ]; then
	echo "== benchstat"
	if ! go run golang.org/x/perf/cmd/benchstat@latest "$OUT/bench.txt" | tee "$OUT/benchstat.txt"; then
		echo "benchstat unavailable; raw figures are in $OUT/bench.txt"
	fi
fi

if [ "$WRK" = 0 ] || ! command -v wrk >/dev/null; then
	echo "== wrk not installed (apt-get install -y wrk) or WRK=0: no loopback load"
	exit 0
fi

# wait_ready FILE: waits for the server's "ready" line in FILE, or its exit
# (a store that cannot be opened), up to a minute.
wait_ready() {
	for _ in $(seq 600); do
		grep -q '^ready ' "$1" && return
		kill -0 "$server" 2>/dev/null || return 0 # it exited
		sleep 0.1
	done
}

# wrk_endpoint FILE ARGS...: starts endpoint-server with ARGS, drives it
# with wrk and appends the figures to FILE; returns 1 when the server did
# not start (a store whose server is not there).
wrk_endpoint() {
	local file=$1
	shift
	# Bounded: two threads, 32 connections, ten seconds, loopback only; the
	# server exits by itself after two minutes if this script dies. The
	# ready file is emptied first, so that the last server's line is not
	# taken for this one's.
	: >"$bin/ready"
	"$bin/endpoint-server" "$@" -port "$PORT" -lifetime 2m >"$bin/ready" 2>&1 &
	server=$!
	wait_ready "$bin/ready"
	if ! grep -q '^ready ' "$bin/ready"; then
		kill "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
		server=
		return 1
	fi
	read -r _ name url auth <"$bin/ready"
	case "$url" in http://127.0.0.1:*) ;; *) echo "refusing non-loopback URL $url"; exit 1 ;; esac
	cat >"$bin/post.lua" <<EOF
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "$auth"
EOF
	echo "== wrk $name ($url) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$file"
	wrk -t2 -c32 -d10s --timeout 30s -s "$bin/post.lua" "$url" | tee -a "$file"
	kill "$server"
	wait "$server" 2>/dev/null || true
	server=
	grep '^served ' "$bin/ready" | tee -a "$file" || true
}

# summary FILE: requests per second and server CPU per request, by setup.
summary() {
	awk '/^== wrk/ {name=$3} /Non-2xx/ {bad[name]=$NF} /^Requests\/sec/ {rps[name]=$2; order[++n]=name} /^served / {cpu[name]=$6}
		END {for (i=1;i<=n;i++) {k=order[i]; printf "%-26s %10s req/s %8s server cpu-ns/req%s\n", k, rps[k], cpu[k], (k in bad ? "  (" bad[k] " non-2xx!)" : "")}}' "$1"
}

if [ -z "$WRK_ONLY" ] || [ "$WRK_ONLY" = endpoint ]; then
	: >"$OUT/wrk.txt"
	for impl in $impls; do
		wrk_endpoint "$OUT/wrk.txt" -impl "$impl" || { echo "$impl did not start: $(cat "$bin/ready")"; exit 1; }
	done
	echo "== requests/second over loopback"
	summary "$OUT/wrk.txt"
fi

# The token endpoint over each store: client_credentials, the client and
# its rate-limit counters cached after the first request; a fresh schema,
# database, file or key prefix each, removed when its server exits.
if [ -z "$WRK_ONLY" ] || [ "$WRK_ONLY" = store ]; then
	: >"$OUT/wrk-store.txt"
	for st in $STORES; do
		wrk_endpoint "$OUT/wrk-store.txt" -impl "$STORE_IMPL" -store "$st" ||
			echo "== $st skipped: $(cat "$bin/ready")"
	done
	echo "== requests/second over loopback, by store ($STORE_IMPL)"
	summary "$OUT/wrk-store.txt"
fi

[ -n "$WRK_ONLY" ] && [ "$WRK_ONLY" != http ] && exit 0
# The routes, plain and guarded, one server each, wrk with the same bearer
# token on every request (cached by the guard after the first). The
# server prints its own CPU time per request when it stops. PAIRS rounds,
# each running every framework plain then guarded (then the control, when
# CONTROL is set), so that a change in the machine's load between two runs
# falls on both sides alike; a ratio is taken within a round and the
# median of the rounds is reported. CONTROL=1.2us adds a plain route that
# spins that long per request (http-server -spin): what any added work of
# the guard's size costs over loopback, guard or not.
: >"$OUT/wrk-http.txt"
modes="plain guarded"
[ -n "$CONTROL" ] && modes="$modes control"
for round in $(seq "$PAIRS"); do
	for fw in $(printf '%s\n' $routes | cut -d/ -f1 | uniq); do
		for mode in $modes; do
			flags=
			case $mode in
			guarded) flags=-guarded ;;
			control) flags="-spin $CONTROL" ;;
			esac
			: >"$bin/ready"
			"$bin/http-server" -framework "$fw" $flags -port "$PORT" -lifetime 2m >"$bin/ready" &
			server=$!
			wait_ready "$bin/ready"
			read -r _ _ url auth <"$bin/ready" || { echo "$fw/$mode did not start"; exit 1; }
			case "$url" in http://127.0.0.1:*) ;; *) echo "refusing non-loopback URL $url"; exit 1 ;; esac
			echo "== wrk $fw/$mode round $round ($url) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/wrk-http.txt"
			wrk -t2 -c32 -d"$WRK_DURATION" --timeout 30s -H "Authorization: $auth" "$url" | tee -a "$OUT/wrk-http.txt"
			kill "$server"
			wait "$server" 2>/dev/null || true
			server=
			grep '^served ' "$bin/ready" | tee -a "$OUT/wrk-http.txt" || true
		done
	done
done

echo "== routes over loopback: guarded ÷ plain within each round, median of $PAIRS rounds (req/s; server CPU per request)"
awk -v control="$CONTROL" '
	function median(list,   n, a, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
		return n == 0 ? 0 : (n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2)
	}
	/^== wrk/ {split($3, fm, "/"); f = fm[1]; m = fm[2]; r = $5; if (!(f in seen)) {seen[f]; order[++nf] = f}}
	/Non-2xx|Socket errors/ {bad[f]}
	/^Requests\/sec/ {rps[f, m, r] = $2}
	/^served / {cpu[f, m, r] = $6}
	END {
		for (i = 1; i <= nf; i++) {
			f = order[i]
			split("guarded control", ms, " ")
			for (k = 1; k <= 2; k++) {
				m = ms[k]; rr = ""; cr = ""; pc = ""; gc = ""; d = ""
				for (key in rps) {
					split(key, kk, SUBSEP)
					if (kk[1] != f || kk[2] != "plain") continue
					r = kk[3]
					if (!((f, m, r) in rps) || cpu[f, m, r] <= 0 || cpu[f, "plain", r] <= 0) continue
					rr = rr " " rps[f, m, r] / rps[f, "plain", r]
					cr = cr " " cpu[f, "plain", r] / cpu[f, m, r]
					pc = pc " " cpu[f, "plain", r]; gc = gc " " cpu[f, m, r]
					d = d " " cpu[f, m, r] - cpu[f, "plain", r]
				}
				if (rr == "") continue
				printf "%-8s %-8s ratio %.3f req/s, %.3f cpu   cpu-ns/req plain %.0f %s %.0f (%+.0f)%s\n",
					f, m, median(rr), median(cr), median(pc), m, median(gc), median(d), (f in bad ? "  (errors or non-2xx!)" : "")
			}
		}
	}' "$OUT/wrk-http.txt"
