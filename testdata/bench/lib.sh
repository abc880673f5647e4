# lib.sh — what run.sh and scale.sh share: common knobs, the work dir, starting geodns, stopping
# what was started (by PID), and the dnsperf runs with their CPU-time accounting. Sourced (bash).
# shellcheck shell=bash disable=SC2034,SC2059
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

DURATION=${DURATION:-10}          # seconds per dnsperf run
RUNS=${RUNS:-3}                   # runs per cell; the median run (by qps) is printed
CLIENTS=${CLIENTS:-20}            # dnsperf -c
OUTSTANDING=${OUTSTANDING:-200}   # dnsperf -q (500 overflows the servers' default UDP receive buffers: "lost")
QTIMEOUT=${QTIMEOUT:-2}           # dnsperf -t: a query unanswered after this many seconds is lost
DNSPERF_THREADS=${DNSPERF_THREADS:-1}  # dnsperf -T (each thread = one sender + one receiver)
GEODNS_BIN=${GEODNS_BIN:-$root/bin/geodns}
MMDB=${MMDB:-$root/testdata/geoip-city.mmdb}
KEEP=${KEEP:-1}                   # keep the work dir (configs, logs, raw dnsperf output)
ECS_EU=8:00011800c63364           # ECS option: family 1, source /24, scope 0, 198.51.100

die() { echo "bench: $*" >&2; exit 1; }
PATH=$PATH:/usr/sbin:/sbin   # knotd, pdns_server, gdnsd for users whose PATH lacks them
for t in dnsperf dig taskset timeout; do command -v "$t" >/dev/null || die "$t not found (make bench-deps)"; done
case $GEODNS_BIN in /*) ;; *) GEODNS_BIN=$PWD/$GEODNS_BIN ;; esac
[ -x "$GEODNS_BIN" ] || die "$GEODNS_BIN not found (make build)"
[ "$(nproc)" -ge 2 ] || echo "# warning: fewer than 2 CPUs; pinned config puts server and dnsperf on the same CPU" >&2
case $MMDB in /*) ;; *) MMDB=$PWD/$MMDB ;; esac
if [ ! -s "$MMDB" ]; then
  command -v go >/dev/null || die "$MMDB missing and no Go toolchain to build it (make testdata)"
  (cd "$root" && go run ./testdata/mkgeoip -city "$MMDB") || die "could not build $MMDB"
fi

work=$(mktemp -d /tmp/geodns-bench.XXXXXX)
pids=()   # every process this script started, stopped by PID
stop_all() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  pids=()
}
cleanup() { stop_all; [ "$KEEP" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# geodns gets --dns-workers only when this build has that flag
geodns_workers_flag=0
"$GEODNS_BIN" serve --help 2>&1 | grep -q -- '--dns-workers' && geodns_workers_flag=1

# start_geodns DIR PORT WORKERS ZONES PREFIX... — geodns in the foreground (in the background of this
# script), the way the peer benchmark's start command runs it: `[taskset -c 0] geodns serve ...`.
start_geodns() {
  local d=$1 port=$2 n=$3 zones=$4; shift 4
  local args=(serve --dns-addr "127.0.0.1:$port" --zones "$zones" --geoip "$MMDB" --api-addr off
              --data-dir "$d/data" --log-level warn)
  [ "$geodns_workers_flag" = 1 ] && args+=(--dns-workers "$n")
  mkdir -p "$d"
  # In its own directory, so that no .env of the caller's is read. FAILOVER_ENABLED=false: the peers
  # have no health checks, so geodns's checks (of a closed loopback port, see the zone file) must not
  # change its answers; REGIONAL_ENDPOINTS unset so that no region of the caller's is checked.
  # GOMAXPROCS = workers (under taskset -c 0 the Go runtime would pick 1 by itself).
  local envs=(env -u REGIONAL_ENDPOINTS FAILOVER_ENABLED=false GOMAXPROCS="$n")
  printf '%s\n' "cd $d && $* ${envs[*]} $GEODNS_BIN ${args[*]}" >"$d/cmdline"
  (cd "$d" && exec "$@" "${envs[@]}" "$GEODNS_BIN" "${args[@]}") >"$d/log" 2>&1 &
  pids+=($!)
}

DIG=(dig @127.0.0.1 +time=1 +tries=1 +norecurse)

# --- measurement
ticks() { [ -n "$1" ] && awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }
hz=$(getconf CLK_TCK)

# busy ticks of the whole machine (user nice system irq softirq steal), to tell how much CPU processes
# other than the server and dnsperf took during a run (the kernel charges the softirq time of
# loopback delivery to the process it interrupts, so it is in srv_cpu and cli_cpu as well)
machine_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }

# one_run port pid raw_log pin_prefix... -- dnsperf args...
#   -> "qps avg max lost srv_cpu qps/cpu cli_cpu rcode other_cpu"
one_run() {
  local p=$1 pid=$2 raw=$3; shift 3
  local pre=() t0 t1 w0 w1 m0 m1 out
  while [ "$1" != -- ]; do pre+=("$1"); shift; done; shift
  m0=$(machine_ticks); t0=$(ticks "$pid"); w0=$(date +%s.%N)
  # `times` in the subshell: CPU of its children (timeout -> dnsperf), the client's own cost
  out=$( ( timeout -k 5 $((DURATION + QTIMEOUT + 20)) "${pre[@]}" dnsperf -s 127.0.0.1 -p "$p" -l "$DURATION" \
             -c "$CLIENTS" -q "$OUTSTANDING" -T "$DNSPERF_THREADS" -t "$QTIMEOUT" "$@" 2>&1; times ) )
  t1=$(ticks "$pid"); w1=$(date +%s.%N); m1=$(machine_ticks)
  printf '%s\n' "$out" >>"$raw"
  printf '%s\n' "$out" | awk -v t0="${t0:-}" -v t1="${t1:-}" -v hz="$hz" -v d="$DURATION" -v w0="$w0" -v w1="$w1" \
    -v m0="$m0" -v m1="$m1" '
    function sec(s,   m) { m = s; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", s); sub(/s$/, "", s); return m * 60 + s }
    /Queries lost:/ {lost = $3}
    /Queries per second:/ {qps = $4}
    /Average Latency \(s\):/ {avg = $4; max = $8; sub(/\)/, "", max)}
    /Run time \(s\):/ {rt = $4}
    /Response codes:/ {rc = $0; sub(/.*Response codes: */, "", rc); gsub(/ [0-9]+ \(/, "(", rc); gsub(/ /, "", rc)}
    /^[0-9]+m[0-9.]+s [0-9]+m[0-9.]+s$/ {n++; if (n == 2) cli = sec($1) + sec($2)}
    END {
      if (rt == "") rt = d
      if (qps == "") { print "0 0 0 - - - - failed -"; exit }
      if (t0 == "" || t1 == "") { cpu = "-"; eff = "-"; other = "-" }
      else {
        c = (t1 - t0) / hz / rt; cpu = sprintf("%.2f", c); eff = (c > 0) ? sprintf("%.0f", qps / c) : "-"
        other = sprintf("%.2f", ((m1 - m0) - (t1 - t0)) / hz / (w1 - w0) - cli / (w1 - w0))
      }
      printf "%.0f %.3f %.3f %s %s %s %.2f %s %s\n", qps, avg * 1000, max * 1000, lost, cpu, eff, cli / (w1 - w0), rc, other }'
}

# emit_row results_file label1 label2 label3 "one_run output" — one result row (FMT) to stdout and
# the file. A run during which other processes used more than OTHER_MAX CPUs gets "busy:N" after its
# rcode (N: those CPUs): its figures are unreliable.
OTHER_MAX=${OTHER_MAX:-0.25}
emit_row() {
  local f=$1 a=$2 b=$3 c=$4 r last
  read -r -a r <<<"$5"
  last=${r[7]:-}
  if awk -v o="${r[8]:--}" -v m="$OTHER_MAX" 'BEGIN {exit !(o != "-" && o + 0 > m + 0)}'; then
    last="$last busy:${r[8]}"
  fi
  printf "$FMT" "$a" "$b" "$c" "${r[@]:0:7}" "$last" | tee -a "$f"
}

# busy_note results_file — explains the busy marks, if any row has one
busy_note() {
  grep -q ' busy:' "$1" && echo "# busy:N after the rcode: other processes used N CPUs (more than OTHER_MAX=$OTHER_MAX)" \
    "during that run, so its figures are unreliable; run again on a quiet machine"
  return 0
}

median_row() { sort -n -k1,1 | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}'; }

# latency_run port pid raw rate pin_prefix... -- dnsperf args...
#   -> "qps avg_ms p50_ms p99_ms p999_ms max_ms lost srv_cpu"
# dnsperf 2.10 has no latency histogram; -v prints "> NOERROR name type SECONDS" per answer and
# "> T name type" per timeout. Those lines go to a scratch file (cheaper for dnsperf than a pipe),
# are counted into 1 µs buckets, and are dropped; the percentiles count timeouts as slower than any
# answer.
latency_run() {
  local p=$1 pid=$2 raw=$3 rate=$4; shift 4
  local pre=() t0 t1 v=$work/verbose.tmp
  while [ "$1" != -- ]; do pre+=("$1"); shift; done; shift
  t0=$(ticks "$pid")
  timeout -k 5 $((DURATION + QTIMEOUT + 20)) "${pre[@]}" dnsperf -s 127.0.0.1 -p "$p" -l "$DURATION" \
    -c "$CLIENTS" -q "$OUTSTANDING" -T "$DNSPERF_THREADS" -t "$QTIMEOUT" -Q "$rate" -v "$@" >"$v" 2>&1
  t1=$(ticks "$pid")
  grep -v '^> ' "$v" >>"$raw"
  awk -v t0="${t0:-}" -v t1="${t1:-}" -v hz="$hz" -v d="$DURATION" -v qt="$QTIMEOUT" '
    /^> / { if ($NF ~ /^[0-9.]+$/) { us = int($NF * 1000000 + 0.5); b[us]++; if (us > top) top = us; ans++ } else to++; next }
    /Queries lost:/ {lost = $3}
    /Queries per second:/ {qps = $4}
    /Average Latency \(s\):/ {avg = $4; max = $8; sub(/\)/, "", max)}
    /Run time \(s\):/ {rt = $4}
    # the smallest latency (ms) that at least frac of all queries (answers and timeouts) had
    function pct(frac,   need, i, c) {
      need = frac * (ans + to); c = 0
      for (i = 0; i <= top; i++) { c += b[i]; if (c >= need) return sprintf("%.3f", i / 1000) }
      return ">" qt "s"
    }
    END {
      if (rt == "") rt = d
      if (qps == "" || ans + to == 0) { print "0 0 - - - 0 - - failed"; exit }
      cpu = (t0 == "" || t1 == "") ? "-" : sprintf("%.2f", (t1 - t0) / hz / rt)
      printf "%.0f %.3f %s %s %s %.3f %s %s\n", qps, avg * 1000, pct(0.5), pct(0.99), pct(0.999), max * 1000, lost, cpu }' "$v"
  rm -f "$v"
}
