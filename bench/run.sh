#!/usr/bin/env bash
# bench/run.sh [smtp|imap|idle|search|all]... [--quick]
#
# Side-by-side benchmarks of Rempart against Debian's Postfix 3.7 + Dovecot 2.3, in the same run on the same
# machine, reported as ratios. Sets everything up itself and stops everything it started:
#   - builds Rempart (Release) and the load generator bench/Rempart.Bench.Load into $BENCH_WORK/art
#   - starts private Postfix+Dovecot on loopback (bench/peers.sh; installs the packages when missing)
#   - starts `rempart serve` on a fresh data folder with free ports, domain example.test, users
#     bench001..bench100 and bigbox (same passwords as the Dovecot users)
#   - runs each mode against both, prints the table, writes bench/results/<date>-<mode>.md
# Benchmarks are not tests: ./test.sh never runs this. Needs root (apt-get, Postfix/Dovecot as root).
#
# Environment: BENCH_WORK (/tmp/rempart-bench), REMPART_CMD (command that runs the rempart CLI; default: the
# Release build made here), RPORT_BASE (21000: Rempart listens on BASE+25, +993, ...), REMPART_FILL (append|smtp: how Rempart's mailboxes are filled),
# SEARCH_MESSAGES, FILL_PER_MAILBOX, BENCH_USERS, IDLE_CONNECTIONS, IMAP_SECONDS, SMTP_CONNECTIONS, SMTP_MESSAGES to override the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MODES=(); QUICK=0
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1 ;;
    smtp|imap|idle|search) MODES+=("$a") ;;
    all) MODES+=(smtp imap idle search) ;;
    *) echo "usage: bench/run.sh [smtp|imap|idle|search|all]... [--quick]" >&2; exit 2 ;;
  esac
done
[ ${#MODES[@]} -gt 0 ] || MODES=(smtp imap idle search)
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: run as root (installs and runs Postfix/Dovecot)" >&2; exit 1; }

WORK=${BENCH_WORK:-/tmp/rempart-bench}
ART=$WORK/art
RDATA=$WORK/rempart-data
RCONF=$WORK/rempart.json
PASSWORD=Bench-passw0rd-2026
PEER_NAME="Postfix 3.7 + Dovecot 2.3"
export BENCH_PASSWORD=$PASSWORD PEERS_STATE=${PEERS_STATE:-/var/tmp/rempart-bench-peers}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if [ $QUICK = 1 ]; then
  USERS=10; FILL=${FILL_PER_MAILBOX:-20}; IMAP_CONN=4; IMAP_SECONDS=${IMAP_SECONDS:-4}; SMTP_CONN=${SMTP_CONNECTIONS:-4}
  SMTP_MSGS=${SMTP_MESSAGES:-10}; IDLE_CONN=${IDLE_CONNECTIONS:-50}; SEARCH_MSGS=${SEARCH_MESSAGES:-1000}; REPEAT=2
else
  USERS=${BENCH_USERS:-100}; FILL=${FILL_PER_MAILBOX:-100}; IMAP_CONN=10; IMAP_SECONDS=${IMAP_SECONDS:-20}; SMTP_CONN=${SMTP_CONNECTIONS:-20}
  SMTP_MSGS=${SMTP_MESSAGES:-500}; IDLE_CONN=${IDLE_CONNECTIONS:-2000}; SEARCH_MSGS=${SEARCH_MESSAGES:-50000}; REPEAT=3
fi
export BENCH_USERS=$USERS

# 2,000 idle sessions need file descriptors on both sides (Dovecot's proxying login process holds two each).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ulimit -n 20000 2>/dev/null || true

RB=${RPORT_BASE:-21000}
R_SMTP=$((RB + 25)); R_SUB=$((RB + 587)); R_SUBS=$((RB + 465)); R_IMAP=$((RB + 143)); R_IMAPS=$((RB + 993)); R_HTTP=$((RB + 80))
P_SMTP=${PEER_SMTP_PORT:-20025}; P_IMAPS=${PEER_IMAPS_PORT:-20993}; P_LMTP=${PEER_LMTP_PORT:-20024}
for port in $R_SMTP $R_SUB $R_SUBS $R_IMAP $R_IMAPS $R_HTTP $P_SMTP $P_IMAPS $P_LMTP ${PEER_IMAP_PORT:-20143}; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "bench/run.sh: port $port is already in use (set RPORT_BASE / PEER_*_PORT)" >&2; exit 1
  fi
done

mkdir -p "$WORK" bench/results
LOG=$WORK/logs; mkdir -p "$LOG"

echo "== build (Release) into $ART"
dotnet build bench/Rempart.Bench.Load -c Release --artifacts-path "$ART" -v q --nologo >"$LOG/build-load.log" 2>&1 \
  || { tail -20 "$LOG/build-load.log"; exit 1; }
LOAD=(dotnet "$ART/bin/Rempart.Bench.Load/release/Rempart.Bench.Load.dll")
if [ -n "${REMPART_CMD:-}" ]; then
  read -r -a REMPART <<<"$REMPART_CMD"
else
  dotnet build src/Rempart.Cli -c Release --artifacts-path "$ART" -v q --nologo >"$LOG/build-rempart.log" 2>&1 \
    || { tail -20 "$LOG/build-rempart.log"; exit 1; }
  REMPART=(dotnet "$ART/bin/Rempart.Cli/release/rempart.dll")
fi

RPID=; DNSPID=
cleanup() {
  set +e
  [ -n "$DNSPID" ] && kill "$DNSPID" 2>/dev/null
  if [ -n "$RPID" ] && kill -0 "$RPID" 2>/dev/null; then
    kill -TERM "$RPID"
    for _ in $(seq 1 150); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$RPID" 2>/dev/null && kill -KILL "$RPID"
  fi
  "$ROOT/bench/peers.sh" stop
}
trap cleanup EXIT

echo "== reference servers"
bench/peers.sh start

# Rempart checks SPF, DKIM and DMARC on every inbound message, so it gets a DNS server on loopback that answers at
# once (the sandboxed default resolver would make each lookup wait for its timeout). The senders' domain publishes
# SPF for loopback and a DMARC p=none record; everything else under .test is NXDOMAIN, nothing is forwarded.
# The records carry a 300 s TTL as published records do (dnsmasq's default for its own records is 0, which no real
# zone uses and which would make every message pay two resolver round trips that a caching resolver never makes).
command -v dnsmasq >/dev/null || { apt-get install -y -qq dnsmasq-base >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq dnsmasq-base; }; }
DNS_PORT=$((RB + 53))
dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \
  --port="$DNS_PORT" --local-ttl=300 --user=root --pid-file= --local=/test/ --local=/in-addr.arpa/ --local=/ip6.arpa/ \
  --txt-record=bench.test,"v=spf1 ip4:127.0.0.0/8 -all" --txt-record=_dmarc.bench.test,"v=DMARC1; p=none" \
  >"$LOG/dnsmasq.log" 2>&1 &
DNSPID=$!

echo "== Rempart: data $RDATA, config $RCONF"
rm -rf "$RDATA"; mkdir -p "$RDATA"
BIG='"limits": { "maxConnections": 10000, "maxConnectionsPerIp": 10000 }'
cat > "$RCONF" <<EOF
{
  "hostName": "localhost",
  "listeners": {
    "smtp": { "port": $R_SMTP, $BIG },
    "submission": { "port": $R_SUB },
    "submissions": { "port": $R_SUBS },
    "imap": { "port": $R_IMAP, $BIG },
    "imaps": { "port": $R_IMAPS, $BIG },
    "pop3": { "enabled": false, "port": $((RB + 110)) },
    "pop3s": { "enabled": false, "port": $((RB + 995)) },
    "http": { "port": $R_HTTP }
  },
  // Loopback load must not be throttled; the cheapest allowed Argon2id keeps 2,000 logins affordable
  // (Dovecot's users here are PLAIN passwd-file entries).
  "auth": { "trustedNetworks": ["127.0.0.0/8"], "argon2MemoryKib": 8192, "argon2Iterations": 1 },
  "imap": { "maxSessionsPerUser": 1000 },
  "dns": { "servers": ["127.0.0.1:$DNS_PORT"] },
  "logging": { "level": "Warning" }
}
EOF
R=("${REMPART[@]}" --data "$RDATA" --config "$RCONF")
"${R[@]}" domain add example.test >"$LOG/rempart-setup.log" 2>&1 || { cat "$LOG/rempart-setup.log"; exit 1; }
add_user() { printf '%s\n' "$PASSWORD" | "${R[@]}" user add "$1" --password-stdin >"$LOG/user-$1.log" 2>&1 || { cat "$LOG/user-$1.log"; return 1; }; }
users=(bigbox@example.test); for i in $(seq 1 "$USERS"); do users+=("$(printf 'bench%03d@example.test' "$i")"); done
# Four CLI processes at a time: each mostly waits on .NET start-up.
for ((i = 0; i < ${#users[@]}; i += 4)); do
  pids=()
  for u in "${users[@]:i:4}"; do add_user "$u" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || { echo "bench/run.sh: creating Rempart users failed" >&2; exit 1; }; done
done
"${R[@]}" serve </dev/null >"$LOG/rempart-serve.log" 2>&1 &
RPID=$!
for _ in $(seq 1 600); do
  (exec 3<>"/dev/tcp/127.0.0.1/$R_IMAPS") 2>/dev/null && break
  kill -0 "$RPID" 2>/dev/null || { echo "rempart serve exited:"; tail -20 "$LOG/rempart-serve.log"; exit 1; }
  sleep 0.1
done
echo "rempart serve pid $RPID (log $LOG/rempart-serve.log)"

DPID=$(cat "$PEERS_STATE/run/dovecot/master.pid")
STAMP=$(date -u +%Y-%m-%d)
COMMON=(--password "$PASSWORD" --max-seconds 1500)
PEER=(--imap "127.0.0.1:$P_IMAPS")
REMP=(--imap "127.0.0.1:$R_IMAPS")

# run_pair MODE ARGS... : the same load against the peer, then Rempart; then the side-by-side table.
run_pair() {
  local mode=$1; shift
  local pj=$WORK/$mode-peer.json rj=$WORK/$mode-rempart.json perr= rerr=
  # The load before the runs says what else the machine was doing; after them it mostly reflects the runs themselves.
  local load_before
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  rm -f "$pj" "$rj"
  "${LOAD[@]}" "$mode" --server dovecot "${PEER[@]}" "${PEER_EXTRA[@]}" "${COMMON[@]}" "$@" --out "$pj" 2>"$LOG/$mode-peer.err" \
    || perr=$(tail -1 "$LOG/$mode-peer.err")
  "${LOAD[@]}" "$mode" --server rempart "${REMP[@]}" "${REMP_EXTRA[@]}" "${COMMON[@]}" "$@" --out "$rj" 2>"$LOG/$mode-rempart.err" \
    || rerr=$(tail -1 "$LOG/$mode-rempart.err")
  local out=bench/results/$STAMP-$mode.md
  {
    echo "# $mode benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB;"
    echo "load average before the runs $load_before, after them $(cut -d' ' -f1-3 /proc/loadavg). Rempart $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') (Release);"
    echo "$(dpkg-query -W -f='postfix ${Version}, ' postfix)$(dpkg-query -W -f='dovecot ${Version}' dovecot-core). Command: bench/run.sh ${MODES[*]}$([ $QUICK = 1 ] && echo ' --quick')"
    echo
  } >"$out"
  "${LOAD[@]}" report --mode "$mode" --peer-name "$PEER_NAME" --rempart "$rj" --peer "$pj" \
    ${rerr:+--rempart-error "$rerr"} ${perr:+--peer-error "$perr"} --out "$out"
  echo "(written to $out)"
}

# fill_both USER_FORMAT MAILBOXES PER_MAILBOX RARE_EVERY PEER_VIA REMPART_VIA: top both servers' mailboxes up (not measured).
fill_both() {
  local fmt=$1 k=$2 n=$3 rare=$4 peer_via=$5 rempart_via=$6
  local pv=(--via lmtp --target "127.0.0.1:$P_LMTP")
  [ "$peer_via" = maildir ] && pv=(--via maildir --maildir "$PEERS_STATE/mail/example.test/${fmt%%@*}/Maildir")
  echo "-- fill $PEER_NAME: $k x $n ($peer_via)"
  "${LOAD[@]}" fill "${PEER[@]}" "${COMMON[@]}" --user-format "$fmt" --mailboxes "$k" --per-mailbox "$n" --rare-every "$rare" --connections 4 "${pv[@]}" \
    || echo "!! peer fill failed"
  [ "$peer_via" = maildir ] && chown -R peervmail:peervmail "$PEERS_STATE/mail"
  local via=${REMPART_FILL:-$rempart_via} other=smtp
  [ "$via" = smtp ] && other=append
  for v in "$via" "$other"; do
    echo "-- fill Rempart: $k x $n ($v)"
    "${LOAD[@]}" fill "${REMP[@]}" "${COMMON[@]}" --user-format "$fmt" --mailboxes "$k" --per-mailbox "$n" --rare-every "$rare" --connections 4 \
      --via "$v" --target "127.0.0.1:$R_SMTP" --visible-timeout-s 600 && return 0
    echo "!! Rempart fill via $v failed"
  done
}

PEER_EXTRA=(); REMP_EXTRA=()
do_imap() {
  echo "== imap: $IMAP_CONN sessions, ${IMAP_SECONDS}s, $USERS mailboxes of $FILL messages"
  fill_both 'bench{0:000}@example.test' "$USERS" "$FILL" 1000 lmtp append
  run_pair imap --mailboxes "$USERS" --connections "$IMAP_CONN" --duration-s "$IMAP_SECONDS"
}
do_smtp() {
  echo "== smtp: $SMTP_CONN connections x $SMTP_MSGS messages of 4 KiB to $USERS mailboxes"
  # Each side's per-message samples (when each final reply came, and its latency) go to $WORK for a closer look.
  PEER_EXTRA=(--smtp "127.0.0.1:$P_SMTP" --samples-out "$WORK/smtp-peer-samples.txt")
  REMP_EXTRA=(--smtp "127.0.0.1:$R_SMTP" --samples-out "$WORK/smtp-rempart-samples.txt")
  run_pair smtp --mailboxes "$USERS" --connections "$SMTP_CONN" --messages "$SMTP_MSGS"
  PEER_EXTRA=(); REMP_EXTRA=()
}
do_idle() {
  echo "== idle: $IDLE_CONN sessions in IDLE"
  PEER_EXTRA=(--pid "$DPID"); REMP_EXTRA=(--pid "$RPID")
  run_pair idle --mailboxes "$USERS" --connections "$IDLE_CONN"
  PEER_EXTRA=(); REMP_EXTRA=()
}
do_search() {
  echo "== search: SEARCH BODY over $SEARCH_MSGS messages"
  # One mailbox: SMTP spreads the fill over 4 connections where APPEND would use one session.
  fill_both 'bigbox@example.test' 1 "$SEARCH_MSGS" 1000 maildir smtp
  run_pair search --user-format 'bigbox@example.test' --mailboxes 1 --repeat "$REPEAT" --expect "$SEARCH_MSGS"
}

for m in "${MODES[@]}"; do "do_$m"; done
echo "== done; stopping everything this script started"
