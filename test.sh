#!/usr/bin/env bash
# Installs what the tests need (when missing) and runs every test of Rempart.
#   ./test.sh              everything (unit, transcript, integration with real clients)
#   ./test.sh --unit       skip the integration suite
# Exit code 0 only when every test passed. Needs root for apt-get on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")"

# ------------------------------------------------------------------ packages the tests use as real peers/clients
# swaks (+ its TLS modules), curl, python3 (smtplib/imaplib/poplib), mbsync (isync), openssl, and postfix as a
# peer MTA, and dnsmasq-base (the binary only, no service) as a real DNS server on loopback for MX, SPF, DKIM, DMARC
# and DNSBL lookups; clamav-daemon for a real clamd (started by the tests with our own signatures, never freshclam);
# publicsuffix for DMARC's organizational domains; dovecot-imapd as the IMAP server `rempart backup imap` copies from
# and, with dovecot-pop3d, a peer `rempart probe` is tested against; chromium (headless, with a font) for the report
# page test.
# The integration tests start private Postfix instances on loopback ports themselves
# (tests/Rempart.Integration.Tests/PeersPostfix.cs); the packaged system instance must never run.
need=()
for p in swaks libnet-ssleay-perl libio-socket-ssl-perl curl openssl isync python3 ca-certificates postfix dnsmasq-base \
         clamav-daemon publicsuffix dovecot-imapd dovecot-pop3d chromium fonts-dejavu-core libargon2-1 argon2; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing test dependencies: ${need[*]}"
  if [ "$(id -u)" != 0 ]; then echo "need root to apt-get install ${need[*]}" >&2; exit 2; fi
  # Postfix: no system configuration (so the packaged instance has nothing to run).
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string localhost" | debconf-set-selections
  # Keep package scripts from starting any service during the install (removed again right after).
  policy_rc=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy_rc=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
  if [ -n "$policy_rc" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
fi

# ------------------------------------------------------------------ peer setup
# The packaged Postfix stays off (where systemd runs it would listen on port 25); tests use private instances.
# Likewise clamd, freshclam and Dovecot: the tests start private instances with their own configuration.
if [ "$(id -u)" = 0 ] && [ -d /run/systemd/system ]; then
  for svc in postfix clamav-daemon clamav-freshclam dovecot; do
    if systemctl is-enabled "$svc.service" >/dev/null 2>&1; then systemctl disable --now "$svc.service" >/dev/null 2>&1 || true; fi
  done
fi
# Builds with --artifacts-path put the CLI elsewhere; a stale override would point the tests at an old binary.
unset REMPART_CLI_DLL

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

echo "== build (Release, warnings are errors)"
dotnet build Rempart.slnx -c Release -v q --nologo

projects=(tests/Rempart.Store.Tests tests/Rempart.Server.Tests tests/Rempart.Smtp.Tests tests/Rempart.Imap.Tests tests/Rempart.Pop3.Tests
          tests/Rempart.SenderAuth.Tests tests/Rempart.Antispam.Tests tests/Rempart.Antivirus.Tests tests/Rempart.Protection.Tests
          tests/Rempart.Backup.Tests tests/Rempart.Monitoring.Tests)
if [ "${1:-}" != "--unit" ]; then projects+=(tests/Rempart.Integration.Tests); fi

results=$(mktemp -d)
status=0
for p in "${projects[@]}"; do
  name=$(basename "$p")
  echo "== $name"
  if ! dotnet test "$p" -c Release --no-build --nologo -v q \
        --logger "console;verbosity=minimal" --logger "trx;LogFileName=$results/$name.trx" \
        -- RunConfiguration.TestSessionTimeout=1500000 2>&1 | tee "$results/$name.log" | grep -E "^\s*(Failed|Passed!|Failed!|Error Message|  Failed )" ; then
    :
  fi
  if grep -q "Failed!" "$results/$name.log" || ! grep -q "Passed!" "$results/$name.log"; then status=1; fi
done

# One closing line for CI: totals over every test project.
python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
p = f = s = 0
for trx in glob.glob(sys.argv[1] + "/*.trx"):
    c = ET.parse(trx).getroot().find("t:ResultSummary/t:Counters", ns)
    if c is None: continue
    p += int(c.get("passed", 0)); f += int(c.get("failed", 0)) + int(c.get("error", 0)) + int(c.get("timeout", 0))
    s += int(c.get("notExecuted", 0))
print(f"{p} passed, {f} failed, {s} skipped")
PY
exit $status
