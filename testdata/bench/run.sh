#!/usr/bin/env bash
# run.sh — geodns side by side with the authoritative GeoDNS servers Debian packages, on loopback.
#
# `make bench` runs it (after `make bench-deps build`). It starts geodns (bin/geodns) and the peers —
# gdnsd (plugin_geoip), Knot DNS (mod-geoip), PowerDNS (geoip backend) and, when PEERS names it,
# PowerDNS (LUA record) — each as a foreground process serving zone example.test. on 127.0.0.1 on its
# own port with the same data and the same GeoIP database, checks every answer with dig, measures each
# with dnsperf, prints one table, measures geodns's p99 latency at 80% of its peak rate, and stops
# what it started (by PID).
# Adapted from the peer benchmark of the speed issue (shared/bench/run-peers.sh): same knobs, same
# peer configurations, same columns, so that figures compare across versions.
#
#   testdata/bench/run.sh                                    # everything: 10 s x 3 runs (~17 min)
#   DURATION=5 RUNS=1 PEERS=knot CONFIGS=pinned WORKLOADS=geo-ecs testdata/bench/run.sh
#   CHECK_ONLY=1 testdata/bench/run.sh                       # start, check answers, stop
#   PEERS= testdata/bench/run.sh                             # geodns alone
#
# Every server answers the same names (data: testdata/bench/zones/example.test.yaml for geodns, the
# equivalent config of each peer below):
#   static.example.test A  -> 192.0.2.1
#   www.example.test A     -> by client continent: NA 192.0.2.10, EU 198.51.100.10, else 203.0.113.10
#   nope.example.test A    -> NXDOMAIN
# The GeoIP database (testdata/geoip-city.mmdb, made by testdata/mkgeoip; GeoIP2-City schema) maps
# 127.0.0.0/8 and 192.0.2.0/24 to US/NA, 198.51.100.0/24 to DE/EU, 203.0.113.0/24 to JP/AS (so an ECS
# of 203.0.113.0/24 gets the default answer) and 2001:db8::/32 to GB/EU.
#
# Configurations (CONFIGS):
#   pinned    server on CPU 0 with 1 UDP worker (geodns: GOMAXPROCS 1); dnsperf on CPU 1
#   unpinned  server with 2 UDP workers (geodns: GOMAXPROCS 2), no affinity; dnsperf with no affinity
#             (both share 2 cores)
# geodns gets --dns-workers 1/2 as well when its `serve --help` lists that flag.
#
# Workloads (WORKLOADS): static (static A), geo (www A, source 127.0.0.1 = NA, no EDNS),
#   geo-ecs (www A with ECS 198.51.100.0/24 = EU), nxdomain (nope A).
#
# Extra targets (EXTRA_TARGETS, space separated), added to the same run:
#   name:port            already running on 127.0.0.1:port (no CPU columns; its affinity is yours)
#   name:port:PID        already running; PID lets the script read its CPU time
#   name:port:/path/cmd  started (and stopped) by this script for each configuration as
#                        `[taskset -c 0] /path/cmd PORT WORKERS` with env BENCH_PORT, BENCH_WORKERS,
#                        BENCH_MMDB (the test database), BENCH_CONFIG (pinned|unpinned). The command
#                        must serve example.test. on 127.0.0.1:PORT in the foreground and should `exec`
#                        the server so that its PID is the server's (for the CPU columns).
#
# Columns: qps = dnsperf "Queries per second"; avg_ms/max_ms = dnsperf average/max latency;
#   lost = dnsperf lost queries; srv_cpu = server CPU-seconds per second of run (1.00 = one full core);
#   qps/cpu = qps divided by srv_cpu (queries per server CPU-second, the fair figure when dnsperf is the
#   ceiling); cli_cpu = dnsperf's own CPU-seconds per second; rcode = dnsperf's response-code summary.
#   Each row is the run with the median qps out of RUNS runs. "busy:N" after the rcode (and "*" in
#   the side-by-side table) marks a run during which processes other than the server and dnsperf
#   used N CPUs, more than OTHER_MAX (0.25): its figures are unreliable.
#
# Latency at a fixed load (P99, in the pinned config): for each server named in P99 (default geodns)
#   the peak is its geo-ecs qps of this run (or, when geo-ecs was not measured, one run to find it);
#   dnsperf then sends P99_LOAD% (default 80) of that rate (-Q) for DURATION seconds with -v, which
#   prints every query's latency, and the script computes p50/p99/p99.9 from them (timeouts count as
#   slower than any answer).

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"   # DURATION RUNS CLIENTS OUTSTANDING QTIMEOUT DNSPERF_THREADS KEEP MMDB GEODNS_BIN

PEERS=${PEERS-gdnsd knot pdns}  # of gdnsd knot pdns pdns-lua (PowerDNS LUA record: ~3k qps on geo)
CONFIGS=${CONFIGS:-pinned unpinned}
WORKLOADS=${WORKLOADS:-static geo geo-ecs nxdomain}
BASE_PORT=${BASE_PORT:-5301}      # gdnsd 5301, knot 5302, pdns 5303, pdns-lua 5304
GEODNS_PORT=${GEODNS_PORT:-5310}
BENCH_ZONES=${BENCH_ZONES:-$here/zones}  # geodns's zone directory (example.test.yaml)
EXTRA_TARGETS=${EXTRA_TARGETS:-}
CHECK_ONLY=${CHECK_ONLY:-0}
P99=${P99-geodns}                 # servers whose p99 latency at P99_LOAD% of peak is measured (pinned); empty: none
P99_LOAD=${P99_LOAD:-80}          # percent of the peak geo-ecs rate
case $BENCH_ZONES in /*) ;; *) BENCH_ZONES=$PWD/$BENCH_ZONES ;; esac

ZONE_HEAD='$ORIGIN example.test.
$TTL 300
@       SOA ns1 hostmaster 1 7200 1800 259200 900
@       NS  ns1
ns1     A   192.0.2.53
static  A   192.0.2.1'

# --- peers: start_NAME DIR PORT WORKERS PREFIX... ; each starts one foreground process, in background
start_gdnsd() {
  local d=$1 port=$2 n=$3; shift 3
  mkdir -p "$d/zones" "$d/geoip" "$d/run" "$d/state"
  cat >"$d/config" <<EOF
options => {
  listen => [ 127.0.0.1:$port ]
  udp_threads => $n
  tcp_threads => 1
  run_dir => $d/run
  state_dir => $d/state
}
plugins => { geoip => {
  maps => { bench => {
    geoip2_db => $MMDB
    datacenters => [ na, eu, def ]
    map => { default => [ def ], NA => [ na ], EU => [ eu ] }
  } }
  resources => { www => {
    map => bench
    dcmap => { na => 192.0.2.10, eu => 198.51.100.10, def => 203.0.113.10 }
  } }
} }
EOF
  printf '%s\nwww 30 DYNA geoip!www\n' "$ZONE_HEAD" >"$d/zones/example.test"
  "$@" gdnsd -c "$d" start >"$d/log" 2>&1 &
  pids+=($!)
}

start_knot() {
  local d=$1 port=$2 n=$3; shift 3
  mkdir -p "$d/run" "$d/db" "$d/zones"
  cat >"$d/knot.conf" <<EOF
server:
    rundir: $d/run
    listen: 127.0.0.1@$port
    udp-workers: $n
    tcp-workers: 1
    background-workers: 1
    edns-client-subnet: on
control:
    listen: $d/run/knot.sock
database:
    storage: $d/db
log:
  - target: stderr
    any: warning
mod-geoip:
  - id: geo
    config-file: $d/geo.conf
    ttl: 30
    mode: geodb
    geodb-file: $MMDB
    geodb-key: [ continent/code ]
template:
  - id: default
    storage: $d/zones
zone:
  - domain: example.test
    file: example.test.zone
    module: mod-geoip/geo
EOF
  cat >"$d/geo.conf" <<'EOF'
www.example.test:
  - geo: "NA"
    A: 192.0.2.10
  - geo: "EU"
    A: 198.51.100.10
EOF
  # the zone's own www A is the default answer for clients outside the listed locations
  printf '%s\nwww 30 A 203.0.113.10\n' "$ZONE_HEAD" >"$d/zones/example.test.zone"
  "$@" knotd -c "$d/knot.conf" >"$d/log" 2>&1 &
  pids+=($!)
}

pdns_common() { # DIR PORT WORKERS
  cat <<EOF
local-address=127.0.0.1
local-port=$2
receiver-threads=$3
distributor-threads=1
reuseport=yes
edns-subnet-processing=yes
socket-dir=$1
guardian=no
daemon=no
disable-syslog=yes
loglevel=4
# no security-status query to the Internet
security-poll-suffix=
EOF
}

start_pdns() { # geoip backend, YAML zone, %cn service with a default
  local d=$1 port=$2 n=$3; shift 3
  mkdir -p "$d"
  { pdns_common "$d" "$port" "$n"
    printf 'launch=geoip\ngeoip-database-files=mmdb:%s\ngeoip-zones-file=%s/geo.yaml\n' "$MMDB" "$d"; } >"$d/pdns.conf"
  cat >"$d/geo.yaml" <<'EOF'
domains:
- domain: example.test
  ttl: 300
  records:
    example.test:
      - soa: ns1.example.test hostmaster.example.test 1 7200 1800 259200 900
      - ns: ns1.example.test
    ns1.example.test:
      - a: 192.0.2.53
    static.example.test:
      - a: 192.0.2.1
    na.www.example.test:
      - a: {content: 192.0.2.10, ttl: 30}
    eu.www.example.test:
      - a: {content: 198.51.100.10, ttl: 30}
    default.www.example.test:
      - a: {content: 203.0.113.10, ttl: 30}
  services:
    www.example.test: [ '%cn.www.example.test', 'default.www.example.test' ]
EOF
  "$@" pdns_server --config-dir="$d" >"$d/log" 2>&1 &
  pids+=($!)
}

start_pdns-lua() { # bind backend zone file with a LUA record; geoip backend only for the lookups
  local d=$1 port=$2 n=$3; shift 3
  mkdir -p "$d"
  { pdns_common "$d" "$port" "$n"
    printf 'launch=bind,geoip\nbind-config=%s/named.conf\nenable-lua-records=yes\n' "$d"
    printf 'geoip-database-files=mmdb:%s\ngeoip-zones-file=%s/geo.yaml\n' "$MMDB" "$d"; } >"$d/pdns.conf"
  printf 'zone "example.test" { type master; file "%s/example.test.zone"; };\n' "$d" >"$d/named.conf"
  printf 'domains: []\n' >"$d/geo.yaml"
  { printf '%s\n' "$ZONE_HEAD"
    printf '%s\n' "www 30 LUA A \";if continent('NA') then return '192.0.2.10' elseif continent('EU') then return '198.51.100.10' else return '203.0.113.10' end\""
  } >"$d/example.test.zone"
  "$@" pdns_server --config-dir="$d" >"$d/log" 2>&1 &
  pids+=($!)
}

ALL_PEERS="gdnsd knot pdns pdns-lua"
peer_port() { local i=0 x; for x in $ALL_PEERS; do [ "$x" = "$1" ] && { echo $((BASE_PORT + i)); return; }; i=$((i + 1)); done; }
peer_binary() { case $1 in gdnsd) echo gdnsd ;; knot) echo knotd ;; pdns|pdns-lua) echo pdns_server ;; *) echo "" ;; esac; }

# --- checks with dig
wait_up() { # port [pid] -> 0 when it answers static (gives up after 10 s, or when pid has exited)
  for _ in $(seq 100); do
    "${DIG[@]}" -p "$1" static.example.test A +short 2>/dev/null | grep -qx 192.0.2.1 && return 0
    [ -z "${2:-}" ] || kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
check_target() { # name port -> prints a check row; returns 1 if an answer is wrong
  local n=$1 p=$2 st geo eu def nx echo_ ok=0 out
  st=$("${DIG[@]}" -p "$p" static.example.test A +short | paste -sd, -)
  geo=$("${DIG[@]}" -p "$p" www.example.test A +short | paste -sd, -)
  out=$("${DIG[@]}" -p "$p" www.example.test A +subnet=198.51.100.0/24)
  eu=$(echo "$out" | awk '$1 == "www.example.test." && $4 == "A" {print $5}' | paste -sd, -)
  echo_=$(echo "$out" | awk '/CLIENT-SUBNET:/ {print $NF}')
  def=$("${DIG[@]}" -p "$p" www.example.test A +subnet=203.0.113.0/24 +short | paste -sd, -)
  nx=$("${DIG[@]}" -p "$p" nope.example.test A | awk '/status:/ {gsub(",", "", $6); print $6}')
  [ "$st" = 192.0.2.1 ] || ok=1
  [ "$geo" = 192.0.2.10 ] || ok=1
  [ "$eu" = 198.51.100.10 ] || ok=1
  [ "$def" = 203.0.113.10 ] || ok=1
  [ "$nx" = NXDOMAIN ] || ok=1
  # the ECS option must come back with our address and source prefix and a scope (198.51.100.0/24/N)
  case $echo_ in 198.51.100.0/24/[0-9]*) ;; *) ok=1 ;; esac
  printf '%-12s %5s %-10s %-11s %-14s %-14s %-9s %s\n' "$n" "$p" "${st:--}" "${geo:--}" "${eu:--}" "${def:--}" "${nx:--}" "${echo_:-none}"
  return $ok
}

# --- workloads
printf 'static.example.test A\n' >"$work/static.q"
printf 'www.example.test A\n' >"$work/geo.q"
printf 'nope.example.test A\n' >"$work/nxdomain.q"

workload_args() { # workload -> sets args
  case $1 in
    static)   args=(-d "$work/static.q") ;;
    geo)      args=(-d "$work/geo.q") ;;
    geo-ecs)  args=(-d "$work/geo.q" -E "$ECS_EU") ;;
    nxdomain) args=(-d "$work/nxdomain.q") ;;
    *) die "unknown workload $1 (static|geo|geo-ecs|nxdomain)" ;;
  esac
}
for w in $WORKLOADS; do workload_args "$w"; done

FMT='%-9s %-12s %-9s %9s %8s %8s %6s %7s %9s %7s  %s\n'
LFMT='%-9s %-12s %-9s %9s %5s %9s %9s %8s %8s %8s %8s %8s %6s %7s\n'
results=$work/results.txt
latency=$work/latency.txt
printf "$FMT" config server workload qps avg_ms max_ms lost srv_cpu qps/cpu cli_cpu rcode >"$results"
printf "$LFMT" config server workload peak_qps load target_qps qps avg_ms p50_ms p99_ms p999_ms max_ms lost srv_cpu >"$latency"

in_list() { local x; for x in $2; do [ "$x" = "$1" ] && return 0; done; return 1; }

declare -A skipped=()
for cfg in $CONFIGS; do
  case $cfg in
    pinned)   workers=1; srv_pin=(taskset -c 0); cli_pin=(taskset -c 1) ;;
    unpinned) workers=2; srv_pin=(); cli_pin=() ;;
    *) die "unknown config $cfg (pinned|unpinned)" ;;
  esac
  targets=()   # name:port:pid
  d=$work/$cfg/geodns; mkdir -p "$d"
  start_geodns "$d" "$GEODNS_PORT" "$workers" "$BENCH_ZONES" "${srv_pin[@]}"
  targets+=("geodns:$GEODNS_PORT:${pids[-1]}")
  for peer in $PEERS; do
    b=$(peer_binary "$peer"); [ -n "$b" ] || die "unknown peer $peer (one of: $ALL_PEERS)"
    if ! command -v "$b" >/dev/null; then skipped[$peer]=1; continue; fi
    port=$(peer_port "$peer")
    d=$work/$cfg/$peer; mkdir -p "$d"
    "start_$peer" "$d" "$port" "$workers" "${srv_pin[@]}"
    targets+=("$peer:$port:${pids[-1]}")
  done
  for t in $EXTRA_TARGETS; do
    IFS=: read -r n p x <<<"$t"
    if [ -n "${x:-}" ] && [ "${x#/}" != "$x" ]; then
      d=$work/$cfg/$n; mkdir -p "$d"
      BENCH_PORT=$p BENCH_WORKERS=$workers BENCH_MMDB=$MMDB BENCH_CONFIG=$cfg \
        "${srv_pin[@]}" "$x" "$p" "$workers" >"$d/log" 2>&1 &
      pids+=($!)
      targets+=("$n:$p:$!")
    else
      targets+=("$n:$p:${x:-}")
    fi
  done

  gw=""; [ "$geodns_workers_flag" = 1 ] && gw=", geodns --dns-workers $workers"
  echo "== config $cfg: server ${srv_pin[*]:-unpinned} ($workers UDP workers; geodns GOMAXPROCS $workers$gw)," \
       "dnsperf ${cli_pin[*]:-unpinned} -c $CLIENTS -q $OUTSTANDING -T $DNSPERF_THREADS -l $DURATION, $RUNS runs"
  printf '%-12s %5s %-10s %-11s %-14s %-14s %-9s %s\n' server port static geo:lo geo:ecs-EU geo:ecs-AS nxdomain ecs-echo
  live=()
  for t in "${targets[@]}"; do
    IFS=: read -r n p pid <<<"$t"
    if ! wait_up "$p" "${pid:-}"; then
      echo "# $n on port $p does not answer static.example.test; log: $work/$cfg/$n/log" >&2
      [ -f "$work/$cfg/$n/log" ] && tail -n 5 "$work/$cfg/$n/log" | sed 's/^/#   /' >&2
      continue
    fi
    check_target "$n" "$p" || echo "# warning: $n gives a wrong answer above (want 192.0.2.1 192.0.2.10 198.51.100.10 203.0.113.10 NXDOMAIN 198.51.100.0/24/scope)" >&2
    live+=("$t")
  done
  if [ "$CHECK_ONLY" = 1 ]; then stop_all; continue; fi

  for t in "${live[@]}"; do
    IFS=: read -r n p pid <<<"$t"
    for w in $WORKLOADS; do
      workload_args "$w"
      raw=$work/$cfg/$n.$w.dnsperf.txt; mkdir -p "$work/$cfg"; : >"$raw"
      rows=$(for _ in $(seq "$RUNS"); do one_run "$p" "${pid:-}" "$raw" "${cli_pin[@]}" -- "${args[@]}"; done)
      emit_row "$results" "$cfg" "$n" "$w" "$(echo "$rows" | median_row)"
    done
  done

  # p99 latency at P99_LOAD% of the peak geo-ecs rate, pinned only (the peak is then the server's or
  # dnsperf's ceiling on one core each, the same in every run)
  if [ "$cfg" = pinned ] && [ -n "$P99" ]; then
    workload_args geo-ecs
    for t in "${live[@]}"; do
      IFS=: read -r n p pid <<<"$t"
      in_list "$n" "$P99" || continue
      peak=$(awk -v n="$n" '$1 == "pinned" && $2 == n && $3 == "geo-ecs" {print $4}' "$results")
      raw=$work/$cfg/$n.geo-ecs-p99.dnsperf.txt; : >"$raw"
      if [ -z "$peak" ]; then   # geo-ecs not among WORKLOADS: one run to find the peak
        peak=$(one_run "$p" "${pid:-}" "$raw" "${cli_pin[@]}" -- "${args[@]}" | awk '{print $1}')
      fi
      case $peak in ''|0|*[!0-9]*) echo "# $n: no peak geo-ecs rate, no p99 figure" >&2; continue ;; esac
      rate=$((peak * P99_LOAD / 100))
      echo "# $n: latency at $P99_LOAD% of its peak of $peak qps: dnsperf -Q $rate -v (p50/p99/p999 below)"
      # shellcheck disable=SC2046
      printf "$LFMT" "$cfg" "$n" geo-ecs "$peak" "$P99_LOAD%" "$rate" \
        $(latency_run "$p" "${pid:-}" "$raw" "$rate" "${cli_pin[@]}" -- "${args[@]}") | tee -a "$latency"
    done
  fi
  stop_all
done
[ "${#skipped[@]}" -gt 0 ] && echo "# not installed, skipped: ${!skipped[*]} (make bench-deps)" >&2

if [ "$CHECK_ONLY" != 1 ]; then
  echo
  echo "== results (median of $RUNS runs of ${DURATION}s; dnsperf -c $CLIENTS -q $OUTSTANDING -T $DNSPERF_THREADS)"
  cat "$results"
  busy_note "$results"
  echo
  echo "== side by side: qps (queries per server CPU-second)"
  awk -v wl="$WORKLOADS" '
    function kfmt(x) { return x == "-" ? "-" : x < 10000 ? sprintf("%.1fk", x / 1000) : sprintf("%dk", x / 1000 + 0.5) }
    NR == 1 { next }
    { key = $1 SUBSEP $2; if (!(key in seen)) { seen[key] = 1; order[++n] = key }
      cell[key, $3] = kfmt($4) " (" kfmt($9) ")" ($NF ~ /^busy:/ ? "*" : "") }
    END {
      nw = split(wl, w, " ")
      printf "%-9s %-12s", "config", "server"; for (i = 1; i <= nw; i++) printf " %-15s", w[i]; printf "\n"
      for (j = 1; j <= n; j++) {
        split(order[j], k, SUBSEP); printf "%-9s %-12s", k[1], k[2]
        for (i = 1; i <= nw; i++) printf " %-15s", ((order[j], w[i]) in cell) ? cell[order[j], w[i]] : "-"
        printf "\n"
      } }' "$results"
  grep -q " busy:" "$results" && echo "# *: a busy run (busy:N in the results above)"
  if [ "$(wc -l <"$latency")" -gt 1 ]; then
    echo
    echo "== latency at ${P99_LOAD}% of the peak geo-ecs rate (pinned; dnsperf -Q target_qps -v, ${DURATION}s; p50/p99/p999 over every query, timeouts as slowest)"
    cat "$latency"
  fi
fi
[ "$KEEP" = 1 ] && echo "# configs, logs and raw dnsperf output: $work"
exit 0
