#!/usr/bin/env python3
"""Summarise benches/targets.sh: per benchmark the median over rounds of
criterion's median, the rounds' range, and the performance issue's
verdicts. Standard library only.

    python3 benches/targets.py target/targets ROUNDS
"""
import json
import os
import statistics
import sys

out, rounds = sys.argv[1], int(sys.argv[2])

# e4go's figures on this kind of machine (the table); the
# benches/peers harness measures them side by side where e4go is built.
E4GO = {"pubkey protect": 21.2e3, "pubkey unprotect": 9.2e3}


def runs(r):
    """{benchmark path: messages per second} of round r."""
    home = os.path.join(out, f"criterion-{r}")
    res = {}
    for root, _dirs, files in os.walk(home):
        if "estimates.json" in files and os.path.basename(root) == "new":
            bench = os.path.relpath(os.path.dirname(root), home)
            with open(os.path.join(root, "estimates.json")) as f:
                ns = json.load(f)["median"]["point_estimate"]
            elements = 1
            try:
                with open(os.path.join(root, "benchmark.json")) as f:
                    t = json.load(f).get("throughput") or {}
                    elements = t.get("Elements", 1)
            except OSError:
                pass
            res[bench] = elements * 1e9 / ns
    return res


def openssl(r):
    """(CBC, CTR) in MB/s at 16 KiB, round r."""
    speeds = {}
    with open(os.path.join(out, f"openssl-{r}.txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                speeds[parts[1]] = float(parts[-1].rstrip("k")) * 1e3 / 1e6
    return speeds["aes-256-cbc"], speeds["aes-256-ctr"]


rounds_data = [runs(r) for r in range(1, rounds + 1)]
limits = []
for r in range(1, rounds + 1):
    cbc, ctr = openssl(r)
    limits.append(1 / (1 / cbc + 1 / ctr))


def series(bench):
    return [d[bench] for d in rounds_data if bench in d]


def fmt_rate(v, size=None):
    if size == 16384:
        return f"{v * size / 1e6:,.0f} MB/s"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M/s"
    return f"{v / 1e3:,.1f} k/s"


print(f"\n{rounds} rounds; one-message AES-SIV limit at 16 KiB (openssl CBC+CTR): "
      f"median {statistics.median(limits):,.0f} MB/s (range {min(limits):,.0f}-{max(limits):,.0f})\n")
print("| benchmark | median of rounds | range |")
print("| --- | ---: | ---: |")
for bench in sorted(set().union(*rounds_data)):
    s = series(bench)
    size = 16384 if bench.endswith("/16384") else None
    print(f"| `{bench}` | {fmt_rate(statistics.median(s), size)} | "
          f"{fmt_rate(min(s), size)} – {fmt_rate(max(s), size)} |")


def ratio_range(a, b):
    """Per-round a/b: (median, min, max)."""
    rs = [x[a] / x[b] for x in rounds_data if a in x and b in x]
    return statistics.median(rs), min(rs), max(rs)


def verdict(ok):
    return "met" if ok else "NOT met"


print("\n| target | measured (median of rounds, range) | verdict |")
print("| --- | --- | --- |")
s = series("protect/symmetric/64")
if s:
    m = statistics.median(s)
    print(f"| symmetric `protect_hashed` 64 B ≥ 5 M/s | {m / 1e6:.2f} M/s "
          f"({min(s) / 1e6:.2f}–{max(s) / 1e6:.2f}) | {verdict(m >= 5e6)} |")
for kind in ("protect", "unprotect"):
    a, b = f"{kind}/symmetric/64", f"{kind}_topic_name/symmetric/64"
    if all(series(x) for x in (a, b)):
        m, lo, hi = ratio_range(a, b)  # hashed rate / string rate = string time / hashed time
        print(f"| `{kind}` with a topic string within 1.2× of the hashed call (64 B) | "
              f"{m:.2f}× ({lo:.2f}–{hi:.2f}) | {verdict(m <= 1.2)} |")
a, b = "protect/symmetric/16384", "unprotect/symmetric/16384"
if all(series(x) for x in (a, b)):
    m, lo, hi = ratio_range(a, b)
    print(f"| 16 KiB unprotect time within 1.1× of protect | {m:.2f}× ({lo:.2f}–{hi:.2f}) | "
          f"{verdict(m <= 1.1)} |")
    for bench in (a, b, "siv_seal/PreparedSiv/16384", "siv_open/PreparedSiv_open_to/16384"):
        fr = [d[bench] * 16384 / 1e6 / lim for d, lim in zip(rounds_data, limits) if bench in d]
        if fr:
            m = statistics.median(fr)
            print(f"| `{bench}` ≥ 90 % of the limit | {m * 100:.0f} % ({min(fr) * 100:.0f}–"
                  f"{max(fr) * 100:.0f} %) | {verdict(m >= 0.9)} |")
for kind in ("protect", "unprotect"):
    s = series(f"{kind}/pubkey/64")
    if s:
        m = statistics.median(s)
        ref = E4GO[f"pubkey {kind}"]
        print(f"| public-key {kind} 64 B ≥ 2× e4go (the issue's {ref / 1e3:.1f} k/s; "
              f"benches/peers times e4go itself) | {m / 1e3:.1f} k/s = "
              f"{m / ref:.2f}× ({min(s) / ref:.2f}–{max(s) / ref:.2f}) | {verdict(m >= 2 * ref)} |")
v = "ed25519_verify_64"
for other in ("one_by_one_kept", "batch"):
    a, b = f"{v}/one_by_one_decompress/64", f"{v}/{other}/64"
    if all(series(x) for x in (a, b)):
        m, lo, hi = ratio_range(b, a)
        print(f"| Ed25519, 64 senders: {other.replace('_', ' ')} vs decompressing each key | "
              f"{m:.2f}× the rate ({lo:.2f}–{hi:.2f}) | measured |")
