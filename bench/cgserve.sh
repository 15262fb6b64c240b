#!/usr/bin/env bash
# Counts the instructions a server process executes per request, under
# valgrind's callgrind: a figure that does not move with the machine's load
# (wrk's requests per second on a shared 2-core VM swing by ±20 % between
# two runs of one binary, far more than the 3 % the route target is about).
#
# Each setup's server (cmd/http-server or cmd/endpoint-server) runs under
# callgrind with GOMAXPROCS=1; cmd/load warms it (20 requests on one connection, then 500), then,
# REPS times, callgrind's counters are zeroed, exactly N requests are sent
# over 32 keep-alive connections, and the counters are dumped. Everything
# the process does in between is counted: HTTP parsing, the handler, the
# garbage collector and the scheduler; the kernel's share of each request
# (socket reads and writes) is not, so a ratio of two setups here is a
# lower bound on the ratio of their CPU time.
#
#   ./cgserve.sh routes              # every framework, plain and guarded
#   ./cgserve.sh endpoints           # every token endpoint setup
#   N=5000 REPS=5 ./cgserve.sh routes
#   ./cgserve.sh routes gin          # one framework
#   ./cgserve.sh endpoints go-oauth2 portcullis-hs256
#
# Prints one line per run, then per setup the median instructions per
# request (and, for routes, guarded ÷ plain). Needs valgrind
# (apt-get install -y valgrind).
set -euo pipefail
cd "$(dirname "$0")"

N=${N:-3000}
REPS=${REPS:-3}
PORT=${PORT:-18191}
C=${C:-32}
what=${1:-routes}
shift || true
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install -y valgrind)"; exit 1; }
command -v callgrind_control >/dev/null || { echo "callgrind_control is missing"; exit 1; }

bin=$(mktemp -d)
vpid=
cleanup() {
	if [ -n "$vpid" ]; then
		kill "$vpid" 2>/dev/null || true
		wait "$vpid" 2>/dev/null || true
	fi
	rm -rf "$bin"
}
trap cleanup EXIT
go build -o "$bin/http-server" ./cmd/http-server
go build -o "$bin/endpoint-server" ./cmd/endpoint-server
go build -o "$bin/load" ./cmd/load

# count NAME SERVER ARGS...: prints "NAME instr/req" for each of REPS runs.
count() {
	local name=$1 server=$2
	shift 2
	: >"$bin/ready"
	# asyncpreemptoff: valgrind does not survive Go's preemption signals.
	# cpu.rdtscp=off: where the CPU has RDTSCP (AMD EPYC hosts), the
	# runtime's cputicks uses it, and valgrind 3.19 cannot decode it: the
	# server dies of SIGILL at the first call, at a random moment.
	# No header timeout: with one P and no preemption, a connection whose
	# request has arrived may wait for its turn behind a request that runs
	# code valgrind translates for the first time (seconds on a loaded
	# machine); past the 5 s default the server would drop it.
	GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off valgrind --tool=callgrind \
		--callgrind-out-file="$bin/cg.%p" "$bin/$server" "$@" -port "$PORT" -lifetime 30m -header-timeout 0 \
		>"$bin/ready" 2>"$bin/valgrind.log" &
	vpid=$!
	for _ in $(seq 1200); do
		grep -q '^ready ' "$bin/ready" && break
		kill -0 "$vpid" 2>/dev/null || { cat "$bin/valgrind.log"; echo "$name did not start"; exit 1; }
		sleep 0.1
	done
	local url auth
	read -r _ _ url auth <"$bin/ready"
	case "$url" in http://127.0.0.1:*) ;; *) echo "refusing non-loopback URL $url"; exit 1 ;; esac
	local load=("$bin/load" -H "Authorization: $auth")
	if [ "$server" = endpoint-server ]; then
		load+=(-X POST -d 'grant_type=client_credentials&scope=read' -H 'Content-Type: application/x-www-form-urlencoded')
	fi
	# The first requests on one connection: the token's first sight and
	# valgrind's first translations then hold up no other connection.
	"${load[@]}" -c 1 -n 20 "$url"
	"${load[@]}" -c "$C" -n 500 "$url"
	for _ in $(seq "$REPS"); do
		rm -f "$bin"/cg."$vpid".*
		callgrind_control -z "$vpid" >/dev/null 2>&1
		"${load[@]}" -c "$C" -n "$N" "$url"
		callgrind_control -d "$vpid" >/dev/null 2>&1
		local dump=
		for _ in $(seq 100); do
			dump=$(ls "$bin"/cg."$vpid".* 2>/dev/null | head -1)
			[ -n "$dump" ] && grep -q '^totals:' "$dump" && break
			sleep 0.1
		done
		awk -v n="$N" -v name="$name" '/^totals:/ {printf "%s %.0f\n", name, $2 / n}' "$dump"
	done
	kill "$vpid"
	wait "$vpid" 2>/dev/null || true
	vpid=
}

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }

: >"$bin/counts"
case $what in
routes)
	fws=${*:-nethttp chi gin}
	for fw in $fws; do
		count "$fw/plain" http-server -framework "$fw" | tee -a "$bin/counts"
		count "$fw/guarded" http-server -framework "$fw" -guarded | tee -a "$bin/counts"
	done
	echo "== instructions per request, median of $REPS × $N requests (guarded ÷ plain is plain/guarded: the req/s ratio if only these counted)"
	for fw in $fws; do
		p=$(awk -v k="$fw/plain" '$1 == k {print $2}' "$bin/counts" | median)
		g=$(awk -v k="$fw/guarded" '$1 == k {print $2}' "$bin/counts" | median)
		awk -v f="$fw" -v p="$p" -v g="$g" 'BEGIN {printf "%-8s plain %6.0f  guarded %6.0f  (+%.0f)  ratio %.3f\n", f, p, g, g - p, p / g}'
	done
	;;
endpoints)
	impls=${*:-$("$bin/endpoint-server" -list)}
	for impl in $impls; do
		count "$impl" endpoint-server -impl "$impl" | tee -a "$bin/counts"
	done
	echo "== instructions per request, median of $REPS × $N requests"
	for impl in $impls; do
		printf '%-18s %8.0f\n' "$impl" "$(awk -v k="$impl" '$1 == k {print $2}' "$bin/counts" | median)"
	done
	;;
*)
	echo "usage: $0 routes|endpoints [setups…]"
	exit 2
	;;
esac
