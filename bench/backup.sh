#!/bin/sh
# Backup benchmark: Rempart's own backup against restic 0.14 and borg 1.2 (Debian) on the same mail, in one run.
#   bench/backup.sh [WORKDIR] [MESSAGES]      defaults: /tmp/backup-bench 20000
# Rempart backs up its data folder (SQLite store + blobs) after importing the corpus; restic and borg back up the
# same corpus as a Maildir tree (the equivalent of the same mail on a Maildir server). Each tool with its defaults
# (restic: repository v2, auto compression; borg: repokey encryption, lz4), all encrypted, caches warm, on one disk.
# Measured: first backup, incremental backup after 2 % new mail, repository size, full restore, one-mailbox
# restore. Prints a markdown table; bench/results/<date>-backup.md holds a recorded run.
set -eu
WORK=${1:-/tmp/backup-bench}
N=${2:-20000}
USERS=${USERS:-40}
ADD=$((N / 50))
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export REMPART_BACKUP_PASSPHRASE=bench-passphrase RESTIC_PASSWORD=bench-passphrase BORG_PASSPHRASE=bench-passphrase
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if ! command -v restic >/dev/null || ! command -v borg >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "need root to apt-get install restic borgbackup" >&2; exit 2; }
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends restic borgbackup >/dev/null
fi

# Published as the ./rempart launcher does (Release, ReadyToRun, as deployed): each step is a new process, so start-up counts.
dotnet publish -c Release --use-current-runtime --self-contained false -p:PublishReadyToRun=true -v q --nologo \
  "$ROOT/src/Rempart.Cli" -o /tmp/art-bench-backup/cli >/dev/null
rempart() { dotnet /tmp/art-bench-backup/cli/rempart.dll --data "$WORK/data" "$@"; }

rm -rf "$WORK"
mkdir -p "$WORK/restore"
cd "$WORK"
RESULTS="$WORK/times.txt"
: > "$RESULTS"
# t NAME CMD...: runs CMD, appends "NAME seconds" to the results.
# Each step starts with no dirty pages left by the previous one (a tool that syncs must not pay for another's writes).
t() {
  name=$1; shift
  sync
  s=$(date +%s.%N)
  "$@" > "$WORK/log-$name.txt" 2>&1 || { echo "FAILED: $name (see $WORK/log-$name.txt)" >&2; tail -5 "$WORK/log-$name.txt" >&2; exit 1; }
  e=$(date +%s.%N)
  echo "$name $(echo "$e - $s" | bc)" >> "$RESULTS"
  echo "  $name: $(echo "$e - $s" | bc | cut -c1-7) s"
}
size() { du -sb "$1" | cut -f1; }

echo "== corpus: $N messages for $USERS users (Maildir), then $ADD more for the incremental run"
python3 "$ROOT/bench/backup/make-maildir.py" "$WORK/maildir" "$USERS" "$N" 1 0
python3 "$ROOT/bench/backup/make-maildir.py" "$WORK/maildir-add" "$USERS" "$ADD" 1 "$N"
echo "  corpus: $(size "$WORK/maildir") bytes in $(find "$WORK/maildir" -type f | wc -l) files"

echo "== Rempart: import the same mail into a data folder"
rempart domain add bench.test >/dev/null
u=0
while [ $u -lt "$USERS" ]; do
  user=$(printf 'u%03d' $u)
  echo "bench-password-$u" | rempart user add "$user@bench.test" --password-stdin >/dev/null
  rempart backup import "$user@bench.test" --format maildir --in "$WORK/maildir/$user" >/dev/null
  u=$((u + 1))
done
echo "  data folder: $(size "$WORK/data") bytes"

echo "== first backup"
rempart backup init --repo "$WORK/repo-rempart" >/dev/null 2>&1
restic init --repo "$WORK/repo-restic" >/dev/null
borg init --encryption repokey "$WORK/repo-borg" >/dev/null 2>&1
t rempart-first rempart backup create --repo "$WORK/repo-rempart"
t restic-first restic backup --repo "$WORK/repo-restic" maildir
t borg-first borg create "$WORK/repo-borg::first" maildir

echo "== incremental backup after $ADD new messages"
u=0
while [ $u -lt "$USERS" ]; do
  user=$(printf 'u%03d' $u)
  [ -d "$WORK/maildir-add/$user" ] && rempart backup import "$user@bench.test" --format maildir --in "$WORK/maildir-add/$user" >/dev/null
  u=$((u + 1))
done
cp -r "$WORK/maildir-add/." "$WORK/maildir/"
t rempart-incr rempart backup create --repo "$WORK/repo-rempart"
t restic-incr restic backup --repo "$WORK/repo-restic" maildir
t borg-incr borg create "$WORK/repo-borg::second" maildir
echo "repo-rempart $(size "$WORK/repo-rempart")" >> "$RESULTS"
echo "repo-restic $(size "$WORK/repo-restic")" >> "$RESULTS"
echo "repo-borg $(size "$WORK/repo-borg")" >> "$RESULTS"

echo "== full restore"
snap=latest
t rempart-full rempart backup restore "$snap" --repo "$WORK/repo-rempart" --target "$WORK/restore/rempart"
t restic-full restic restore latest --repo "$WORK/repo-restic" --target "$WORK/restore/restic"
mkdir -p "$WORK/restore/borg"
t borg-full sh -c "cd '$WORK/restore/borg' && borg extract '$WORK/repo-borg::second'"

echo "== one mailbox (u007: every folder of one of $USERS users)"
t rempart-one rempart backup restore "$snap" u007@bench.test --repo "$WORK/repo-rempart"
t restic-one restic restore latest --repo "$WORK/repo-restic" --target "$WORK/restore/restic-one" --include /maildir/u007
mkdir -p "$WORK/restore/borg-one"
t borg-one sh -c "cd '$WORK/restore/borg-one' && borg extract '$WORK/repo-borg::second' maildir/u007"

# Sanity: what the tools restored is what they backed up.
diff -r "$WORK/maildir" "$WORK/restore/restic/maildir" >/dev/null || { echo "restic restore differs" >&2; exit 1; }
diff -r "$WORK/maildir" "$WORK/restore/borg/maildir" >/dev/null || { echo "borg restore differs" >&2; exit 1; }
rempart backup verify --repo "$WORK/repo-rempart" >/dev/null || { echo "rempart verify failed" >&2; exit 1; }

python3 - "$RESULTS" "$N" "$ADD" "$(size "$WORK/maildir")" <<'PY'
import sys
r = dict((l.split()[0], float(l.split()[1])) for l in open(sys.argv[1]) if l.strip())
n, add, corpus = sys.argv[2], sys.argv[3], int(sys.argv[4])
print(f"\n{n} messages + {add} new, Maildir corpus {corpus/1e6:.0f} MB\n")
print("| | Rempart | restic 0.14 | borg 1.2 | Rempart / restic | Rempart / borg |")
print("|---|---:|---:|---:|---:|---:|")
for key, label in [("first", "first backup (s)"), ("incr", "incremental backup (s)"), ("full", "full restore (s)"), ("one", "one-mailbox restore (s)")]:
    a, b, c = r[f"rempart-{key}"], r[f"restic-{key}"], r[f"borg-{key}"]
    print(f"| {label} | {a:.1f} | {b:.1f} | {c:.1f} | {a/b:.2f} | {a/c:.2f} |")
a, b, c = r["repo-rempart"], r["repo-restic"], r["repo-borg"]
print(f"| repository size (MB) | {a/1e6:.0f} | {b/1e6:.0f} | {c/1e6:.0f} | {a/b:.2f} | {a/c:.2f} |")
for tool in ("rempart", "restic", "borg"):
    print(f"\n{tool}: one-mailbox restore / full restore = {r[tool+'-one']/r[tool+'-full']:.3f}", end="")
print()
PY
