#!/usr/bin/env python3
"""Summary of a benches/peers run (standard library only).

    python3 benches/peers/summarize.py OUT_DIR

reads OUT_DIR/results.tsv (round, lib, op, size, ops/s), OUT_DIR/meta.txt and
OUT_DIR/load.txt, and prints Markdown: per (operation, size) the median and
min-max over the rounds of each library's messages per second, and the
ratios e4-rs / e4go and e4-rs / libe4 (ratio of the medians, and in brackets
the range of the per-round ratios: round r of e4-rs against round r of the
peer, which ran next to it).

Rows that only e4-rs has (protect_hashed, TopicCipher::protect) are compared
with the peers' symmetric protect with the topic as a string.
"""

import csv
import os
import statistics
import sys

LIBS = ["e4go", "libe4", "e4-rs"]
OPS = [
    ("sym-protect", "symmetric protect (topic string)", "sym-protect"),
    ("sym-unprotect", "symmetric unprotect (topic string)", "sym-unprotect"),
    ("sym-protect-hashed", "e4-rs protect_hashed (vs peers' protect)", "sym-protect"),
    ("sym-topiccipher-protect", "e4-rs TopicCipher::protect (vs peers' protect)", "sym-protect"),
    ("pk-protect", "public-key protect (Ed25519 sign)", "pk-protect"),
    ("pk-unprotect", "public-key unprotect (Ed25519 verify)", "pk-unprotect"),
]


def size_name(n):
    return f"{n // 1024} KiB" if n >= 1024 and n % 1024 == 0 else f"{n} B"


def k(v):
    """Messages per second in thousands, about 3 significant digits."""
    v /= 1e3
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def cell(values):
    if not values:
        return "–"
    med = statistics.median(values)
    if len(values) == 1:
        return k(med)
    return f"{k(med)} ({k(min(values))}–{k(max(values))})"


def ratio(ours, theirs):
    """Ratio of the medians and the range of the per-round ratios."""
    if not ours or not theirs:
        return "–"
    med = statistics.median(ours.values()) / statistics.median(theirs.values())
    paired = [ours[r] / theirs[r] for r in ours if r in theirs]
    if len(paired) < 2:
        return f"{med:.2f}×"
    return f"{med:.2f}× ({min(paired):.2f}–{max(paired):.2f})"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    data = {}  # (lib, op, size) -> {round: ops/s}
    with open(os.path.join(out, "results.tsv")) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            key = (row["lib"], row["op"], int(row["size"]))
            data.setdefault(key, {})[int(row["round"])] = float(row["ops_per_s"])
    sizes = sorted({s for (_, _, s) in data})
    present = [lib for lib in LIBS if any(key[0] == lib for key in data)]
    rounds = max((len(v) for v in data.values()), default=0)

    print("# e4go, libe4 and e4-rs: messages per second\n")
    for name in ("meta.txt", "load.txt"):
        p = os.path.join(out, name)
        if os.path.exists(p):
            print("```")
            print(open(p).read().rstrip())
            print("```\n")
    print(
        f"Thousands of messages per second: median of {rounds} round(s), "
        "min–max in brackets. Ratios: e4-rs median / peer median, and the "
        "range of the per-round ratios. Above 1× e4-rs is faster.\n"
    )
    head = ["operation", "size"] + [f"{lib} k msg/s" for lib in present]
    peers = [p for p in present if p != "e4-rs"]
    head += [f"e4-rs / {p}" for p in peers]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---", "---:"] + ["---:"] * (len(head) - 2)) + "|")
    for op, label, ref in OPS:
        for n in sizes:
            if not any((lib, op, n) in data for lib in present):
                continue
            row = [label, size_name(n)]
            for lib in present:
                row.append(cell(list(data.get((lib, op, n), {}).values())))
            ours = data.get(("e4-rs", op, n), {})
            for p in peers:
                row.append(ratio(ours, data.get((p, ref, n), {})))
            print("| " + " | ".join(row) + " |")

    big = [n for n in sizes if n >= 1024]
    if big:
        print("\nThroughput (payload bytes), MB/s, medians:\n")
        head = ["operation", "size"] + present
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join(["---", "---:"] + ["---:"] * len(present)) + "|")
        for op, label, _ in OPS:
            for n in big:
                vals = [data.get((lib, op, n)) for lib in present]
                if not any(vals):
                    continue
                cells = [
                    f"{statistics.median(v.values()) * n / 1e6:.0f}" if v else "–"
                    for v in vals
                ]
                print("| " + " | ".join([label, size_name(n)] + cells) + " |")


if __name__ == "__main__":
    main()
