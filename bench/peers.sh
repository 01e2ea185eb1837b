#!/usr/bin/env bash
# peers.sh start|stop|pids - the reference servers for bench/run.sh: Debian's Postfix 3.7 and Dovecot 2.3 as
# private instances on 127.0.0.1 only, on their own ports and state folder (they do not touch a system instance
# or another private one). Mail for example.test goes Postfix -> LMTP -> Dovecot (maildir); nothing leaves the
# machine (no DNS, every other transport is an error). Adapted from the project's reference-server recipe.
#
# Run as root. Environment (defaults):
#   PEERS_STATE=/var/tmp/rempart-bench-peers   config, mail, queue, pids, logs (wiped by 'start')
#   PEER_IMAP_PORT=20143 PEER_IMAPS_PORT=20993 PEER_LMTP_PORT=20024 PEER_SMTP_PORT=20025
#   BENCH_USERS=100 BENCH_PASSWORD=Bench-passw0rd-2026   accounts bench001..benchNNN and bigbox @example.test
set -euo pipefail

STATE=${PEERS_STATE:-/var/tmp/rempart-bench-peers}
ETC=$STATE/etc
IMAP_PORT=${PEER_IMAP_PORT:-20143}; IMAPS_PORT=${PEER_IMAPS_PORT:-20993}
LMTP_PORT=${PEER_LMTP_PORT:-20024}; SMTP_PORT=${PEER_SMTP_PORT:-20025}
NUSERS=${BENCH_USERS:-100}
PASSWORD=${BENCH_PASSWORD:-Bench-passw0rd-2026}
DPID=$STATE/run/dovecot/master.pid
PPID_FILE=$STATE/postfix-queue/pid/master.pid

[ "$(id -u)" = 0 ] || { echo "peers.sh: run as root" >&2; exit 1; }

stop_pid() { # name pidfile expected-comm: signal only the recorded master; it stops its own children
  local name=$1 pf=$2 comm=$3 pid
  [ -s "$pf" ] || return 0
  pid=$(tr -d ' \n' < "$pf")
  kill -0 "$pid" 2>/dev/null || return 0
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$comm" ]; then
    echo "peers.sh: $name pid $pid is not $comm - not touching it" >&2; return 1
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "peers.sh: $name pid $pid still alive after 10 s" >&2; return 1
}

case "${1:-}" in
  stop)
    stop_pid dovecot "$DPID" dovecot || true
    stop_pid postfix "$PPID_FILE" master || true
    exit 0 ;;
  pids)
    echo "dovecot=$(cat "$DPID" 2>/dev/null) postfix=$(tr -d ' ' < "$PPID_FILE" 2>/dev/null)"
    exit 0 ;;
  start) ;;
  *) echo "usage: peers.sh start|stop|pids" >&2; exit 2 ;;
esac

# ---------------------------------------------------------------- packages
need=()
for p in dovecot-imapd dovecot-lmtpd postfix openssl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "peers.sh: installing ${need[*]}"
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string localhost" | debconf-set-selections
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi
# Where systemd runs, keep the packaged system instances (all interfaces, standard ports) off.
if [ -d /run/systemd/system ]; then
  systemctl disable --now dovecot.service postfix.service 2>/dev/null || true
fi

# ---------------------------------------------------------------- fresh state
"$0" stop
rm -rf "$STATE"
getent group peervmail >/dev/null || groupadd --system peervmail
getent passwd peervmail >/dev/null || useradd --system -g peervmail -d /nonexistent -s /usr/sbin/nologin peervmail
VUID=$(id -u peervmail); VGID=$(getent group peervmail | cut -d: -f3)
mkdir -p "$ETC/dovecot" "$ETC/postfix" "$ETC/tls" "$STATE"/{mail,run/dovecot,run/dovecot-state,log,postfix-queue,postfix-data}
chmod 755 "$STATE" "$STATE/run" "$STATE/postfix-queue"
chown peervmail:peervmail "$STATE/mail"; chmod 770 "$STATE/mail"
chown postfix:postfix "$STATE/postfix-data"

openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$ETC/tls/key.pem" -out "$ETC/tls/cert.pem" 2>/dev/null
chmod 644 "$ETC/tls/cert.pem"; chmod 600 "$ETC/tls/key.pem"

# ---------------------------------------------------------------- Dovecot
{
  for i in $(seq 1 "$NUSERS"); do printf 'bench%03d@example.test:{PLAIN}%s::::::\n' "$i" "$PASSWORD"; done
  printf 'bigbox@example.test:{PLAIN}%s::::::\n' "$PASSWORD"
} > "$ETC/dovecot/users"
chown root:dovecot "$ETC/dovecot/users"; chmod 640 "$ETC/dovecot/users"

# Debian's defaults except: private paths and ports, PLAIN passwd-file users, limits high enough for 2,000 idle
# sessions (one imap process per session is Dovecot's standard design), login processes in high-performance mode.
cat > "$ETC/dovecot/dovecot.conf" <<EOF
instance_name = rempart-bench-dovecot
base_dir = $STATE/run/dovecot
state_dir = $STATE/run/dovecot-state
protocols = imap lmtp
listen = 127.0.0.1
log_path = $STATE/log/dovecot.log
info_log_path = $STATE/log/dovecot.log
ssl = yes
ssl_cert = <$ETC/tls/cert.pem
ssl_key = <$ETC/tls/key.pem
ssl_dh = </usr/share/dovecot/dh.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_default_realm = example.test
mail_location = maildir:~/Maildir
mail_uid = $VUID
mail_gid = $VGID
first_valid_uid = $VUID
last_valid_uid = $VUID
first_valid_gid = $VGID
mail_privileged_group =
mail_max_userip_connections = 1000
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $ETC/dovecot/users
}
userdb {
  driver = static
  args = uid=$VUID gid=$VGID home=$STATE/mail/%d/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
  service_count = 0
  process_min_avail = 2
  client_limit = 6000
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
service imap {
  process_limit = 3000
}
service anvil {
  client_limit = 10000
}
service auth {
  client_limit = 10000
}
default_client_limit = 6000
default_process_limit = 3000
protocol lmtp {
  postmaster_address = postmaster@example.test
}
EOF

# ---------------------------------------------------------------- Postfix
cat > "$ETC/postfix/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $STATE/postfix-queue
data_directory = $STATE/postfix-data
maillog_file = $STATE/log/postfix.log
myhostname = bench-peer.localhost
mydomain = localhost
myorigin = example.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
biff = no
alias_maps =
alias_database =
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtpd_peername_lookup = no
default_transport = error:outbound delivery disabled (loopback benchmark instance)
relay_transport = error:outbound delivery disabled (loopback benchmark instance)
local_transport = error:local delivery disabled
notify_classes =
virtual_mailbox_domains = example.test
virtual_transport = lmtp:inet:127.0.0.1:$LMTP_PORT
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_tls_cert_file = $ETC/tls/cert.pem
smtpd_tls_key_file = $ETC/tls/key.pem
smtpd_tls_security_level = may
default_process_limit = 200
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
message_size_limit = 52428800
EOF
cat > "$ETC/postfix/master.cf" <<EOF
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
chown -R root:root "$ETC/postfix"
postfix -c "$ETC/postfix" check 2>&1 | grep -v 'symlink leaves directory' || true

# ---------------------------------------------------------------- start (stdio detached so the caller's pipes close)
dovecot -c "$ETC/dovecot/dovecot.conf" </dev/null >>"$STATE/log/dovecot.stdout" 2>&1
postfix -c "$ETC/postfix" start </dev/null >>"$STATE/log/postfix.stdout" 2>&1
for port in $IMAPS_PORT $LMTP_PORT $SMTP_PORT; do
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
done
echo "peers.sh: dovecot pid $(cat "$DPID"), postfix pid $(tr -d ' ' < "$PPID_FILE"); IMAPS $IMAPS_PORT LMTP $LMTP_PORT SMTP $SMTP_PORT; logs in $STATE/log"
