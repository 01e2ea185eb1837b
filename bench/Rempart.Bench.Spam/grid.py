#!/usr/bin/env python3
"""Refit of the BAYES_999/99/95 points and the LOGISTIC mapping on cross-validated scores (training half only).

Usage: grid.py OUT_DIR/cv-feat.txt VARIANT[,VARIANT...]   (cv-feat.txt from Rempart.Bench.Spam DATA OUT --cv 5 --feat)

For each variant: the held-out spam and ham at SCL >= 5 with the points before 2026-12-03 s8 (BAYES_999 6,
LOGISTIC = clamp((m + 4) / 2, -4, 4)); the best settings of the grid with at most 2 held-out ham (optimistic: chosen
on the same held-out scores); and a nested estimate: for each fold, the setting chosen on the other four folds (at
most 1 ham there), applied to that fold. Needs numpy (Debian: python3-numpy).
"""
import itertools
import sys

import numpy as np

rows = [line.split() for line in open(sys.argv[1])]
header, rows = rows[0], rows[1:]
names = [header[3 + 2 * v][2:] for v in range((len(header) - 3) // 2)]
want = sys.argv[2].split(",") if len(sys.argv) > 2 else names
spam = np.array([r[0] == "spam" for r in rows])
fold = np.arange(len(rows)) % 5  # the bench's folds: position in train.txt mod 5
rules = np.array([float(r[2]) for r in rows])


def band(p, b999, b99, b95):
    out = np.full(p.shape, -3.5)
    for t, s in sorted([(0.999, b999), (0.99, b99), (0.95, b95), (0.8, 2.5), (0.6, 1), (0.4, 0), (0.2, -0.5), (0.05, -1.5), (0.01, -2.5)]):
        out[p >= t] = s
    return out


# BAYES_999, BAYES_99, BAYES_95, LOGISTIC centre m0, slope k, bound towards spam, bound towards ham.
grid = list(itertools.product([6, 6.5, 7, 7.5], [5, 5.5, 6], [4.5, 5], np.arange(-7, 1.5, 1.0), [0.5, 0.75, 1.0], [4, 6], [1, 2, 4]))
before = grid.index((6, 5, 4.5, -4.0, 0.5, 4, 4))
for v, name in enumerate(names):
    if name not in want:
        continue
    p = np.array([float(r[3 + 2 * v]) for r in rows])
    m = np.array([float(r[4 + 2 * v]) for r in rows])
    bands = {}
    caught, flagged = [], []
    for b999, b99, b95, m0, k, cp, cn in grid:
        b = bands.setdefault((b999, b99, b95), band(p, b999, b99, b95))
        junk = np.round(rules + b + np.round(np.clip(k * (m - m0), -cn, cp), 2), 2) >= 5
        caught.append(np.bincount(fold[junk & spam], minlength=5))
        flagged.append(np.bincount(fold[junk & ~spam], minlength=5))
    caught, flagged = np.array(caught), np.array(flagged)
    c, h = caught.sum(1), flagged.sum(1)
    ok = sorted(np.where(h <= 2)[0], key=lambda i: (-c[i], h[i]))
    print(f"{name}: points before s8 {c[before]} spam, {h[before]} ham; best with <= 2 ham:",
          [(int(c[i]), int(h[i]), tuple(float(x) for x in grid[i])) for i in ok[:3]])
    total_c = total_h = 0
    picks = []
    for k in range(5):
        ctr, htr = c - caught[:, k], h - flagged[:, k]
        candidates = np.where(htr <= 1)[0]
        if len(candidates) == 0:
            print(f"   nested: fold {k + 1} has no setting with <= 1 ham on the other folds")
            break
        i = max(candidates, key=lambda i: (ctr[i], -htr[i]))
        total_c += caught[i, k]
        total_h += flagged[i, k]
        picks.append(tuple(float(x) for x in grid[i]))
    else:
        print(f"   nested: {total_c}/{spam.sum()} ({100 * total_c / spam.sum():.2f}%) spam, {total_h} ham; picks {picks}")
