#!/usr/bin/env python3
"""Writes a deterministic Maildir++ corpus for the backup benchmark (bench/backup.sh).

usage: make-maildir.py OUT USERS MESSAGES [SEED] [START]
OUT/<user>/ is one Maildir++ per user: INBOX in cur/, folders .Sent .Archive .Projects .Lists .Lists.Dev.
The mix (seeded): 70 % short text mails, 22 % HTML with a small attachment, 6.5 % with a PDF-like attachment of
100-400 KB, 1.5 % with a 1-2 MB attachment; attachments are random bytes (incompressible, like real PDFs and
photos) base64-encoded; bodies are drawn from a word list, so text compresses as mail does. Some messages are
forwarded copies of others (the same attachment sent to several users), which a deduplicating backup sees once.
START numbers the messages, so a second run with START=N adds new mail without touching old files.
"""
import base64, os, random, sys, time

out, users, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
start = int(sys.argv[5]) if len(sys.argv) > 5 else 0
rng = random.Random(seed * 1_000_003 + start)
WORDS = ("the a meeting budget report please find attached quarterly review draft project deadline team "
         "customer invoice order shipping update schedule call tomorrow thanks regards best agenda minutes "
         "server migration backup restore mailbox calendar contract approval legal finance marketing sales "
         "release version test results numbers figures chart slide deck proposal offer discount renewal").split()
FOLDERS = ["", ".Sent", ".Archive", ".Projects", ".Lists", ".Lists.Dev"]
SHARED = [rng.randbytes(rng.randint(40_000, 200_000)) for _ in range(12)]  # forwarded attachments

def text(n):
    lines, line = [], []
    for _ in range(n):
        line.append(rng.choice(WORDS))
        if len(line) > 11:
            lines.append(" ".join(line)); line = []
    lines.append(" ".join(line))
    return "\r\n".join(lines)

def b64(data):
    s = base64.b64encode(data).decode()
    return "\r\n".join(s[i:i + 76] for i in range(0, len(s), 76))

for i in range(start, start + total):
    u = i % users
    user = f"u{u:03d}"
    folder = rng.choices(FOLDERS, weights=[50, 15, 15, 8, 7, 5])[0]
    d = os.path.join(out, user, folder) if folder else os.path.join(out, user)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    sender = f"u{rng.randrange(users):03d}@bench.test" if rng.random() < 0.5 else f"someone{rng.randrange(5000)}@example.org"
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(1_700_000_000 + i * 37))
    head = (f"Return-Path: <{sender}>\r\nFrom: <{sender}>\r\nTo: <{user}@bench.test>\r\n"
            f"Subject: {' '.join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))}\r\n"
            f"Date: {date}\r\nMessage-ID: <bench.{i}@bench.test>\r\nMIME-Version: 1.0\r\n")
    kind = rng.random()
    if kind < 0.70:
        body = head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text(rng.randint(40, 900)) + "\r\n"
    else:
        if kind < 0.92:
            att = SHARED[rng.randrange(len(SHARED))] if rng.random() < 0.3 else rng.randbytes(rng.randint(5_000, 60_000))
        elif kind < 0.985:
            att = rng.randbytes(rng.randint(100_000, 400_000))
        else:
            att = rng.randbytes(rng.randint(1_000_000, 2_000_000))
        t = text(rng.randint(30, 400))
        body = (head + 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
                "Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>" + t.replace("\r\n", "</p>\r\n<p>") +
                "</p></body></html>\r\n--b1\r\nContent-Type: application/pdf; name=\"doc.pdf\"\r\n"
                "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"doc.pdf\"\r\n\r\n" +
                b64(att) + "\r\n--b1--\r\n")
    flags = rng.choice(["S", "S", "S", "", "FS", "RS"])
    name = f"{1_700_000_000 + i}.M{i}P1.bench,S={len(body)}:2,{flags}"
    with open(os.path.join(d, "cur", name), "w", encoding="utf-8", newline="") as f:
        f.write(body)
