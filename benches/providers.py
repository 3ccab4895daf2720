#!/usr/bin/env python3
"""Tables and a plot of the provider benchmarks (benches/benches/providers.rs).

Reads criterion's medians from the folders given (benches/providers.sh
passes one per round; default target/criterion or $CRITERION_HOME) with
plot.py's loader; a time is the median of the rounds' medians, and each
ratio also shows its lowest and highest round. Writes
benches/results/providers.md and benches/results/providers.png:

* per suite and provider: protect and unprotect of 64 B, 1 KiB and 16 KiB,
  C2 sealing a command, the device processing it, key generation;
* per signing suite and provider: protect of 64 B against the provider's
  signature of the same bytes, unprotect against verification, command
  processing against decapsulation + verification (the issue's bound:
  protect(64 B) <= 1.1 x sign).

    python3 benches/providers.py [CRITERION_DIR...]   (needs matplotlib)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot import CRIT, OUT, SUITES, load, plt  # noqa: E402

PROVIDERS = ["rustcrypto", "pqclean", "libcrux", "small"]
SIZES = ["64", "1024", "16384"]
BOUND = 1.1


def us(ns):
    return f"{ns / 1e3:,.1f}" if ns >= 1e4 else f"{ns / 1e3:,.2f}"


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def main():
    rounds = [load(d) for d in (sys.argv[1:] or [CRIT])]

    def per_round(group, fid, value=""):
        out = []
        for res in rounds:
            # BenchmarkId::new(fid, value), or ::from_parameter(fid).
            r = res.get((group, fid, value) if value else (group, "", fid))
            if r:
                out.append(r["ns"])
        return out

    def get(group, fid, value=""):
        xs = per_round(group, fid, value)
        return median(xs) if xs else None

    def ratio(num, den):
        """Median ratio over the rounds, with its range."""
        rs = [a / b for a, b in zip(num, den)]
        if not rs:
            return "–", None
        m = median(rs)
        spread = f" ({min(rs):.2f}–{max(rs):.2f})" if len(rs) > 1 else ""
        return f"{m:.2f}×{spread}", m

    pairs = [
        (s, p)
        for s in SUITES
        for p in PROVIDERS
        if get("provider_protect", f"{p}/{s}", "64") is not None
    ]
    if not pairs:
        sys.exit(f"no provider_* results under {CRIT}: run cargo bench -p e4-benches --bench providers")

    lines = [
        "#### Every provider × suite: median time per operation, µs (16 KiB: MB/s)",
        "",
        "| suite | provider | protect 64 B | unprotect 64 B | protect 1 KiB | unprotect 1 KiB"
        " | protect 16 KiB MB/s | command seal (C2) | command process | keygen |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s, p in pairs:
        fid = f"{p}/{s}"
        big = get("provider_protect", fid, "16384")
        cells = [
            us(get("provider_protect", fid, "64")),
            us(get("provider_unprotect", fid, "64")),
            us(get("provider_protect", fid, "1024")),
            us(get("provider_unprotect", fid, "1024")),
            f"{16384 / big * 1e3:,.0f}" if big else "–",
        ]
        for g in ["provider_command_seal", "provider_command_process", "provider_keygen"]:
            v = get(g, fid)
            cells.append(us(v) if v else "–")
        lines.append(f"| {s} | {p} | " + " | ".join(cells) + " |")

    lines += [
        "",
        f"#### Suites against their primitives (same provider): the bound is protect(64 B) ≤ {BOUND}× sign",
        "",
        "| suite | provider | protect 64 B | sign | ratio | unprotect 64 B | verify | ratio"
        " | command process | decaps + verify | ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    worst = 0.0
    for s, p in pairs:
        fid = f"{p}/{s}"
        sign = get("provider_primitive", fid, "sign")
        if sign is None:
            continue
        verify = get("provider_primitive", fid, "verify")
        prot = get("provider_protect", fid, "64")
        unprot = get("provider_unprotect", fid, "64")
        r_sign, m = ratio(per_round("provider_protect", fid, "64"), per_round("provider_primitive", fid, "sign"))
        if s != "pubkey":
            worst = max(worst, m)
        r_verify, _ = ratio(per_round("provider_unprotect", fid, "64"), per_round("provider_primitive", fid, "verify"))
        cmd = ["–", "–", "–"]
        decaps = per_round("provider_primitive", fid, "decapsulate")
        if decaps:
            proc_ = per_round("provider_command_process", fid)
            both = [d + v for d, v in zip(decaps, per_round("provider_primitive", fid, "verify"))]
            cmd = [us(median(proc_)), us(median(both)), ratio(proc_, both)[0]]
        lines.append(
            f"| {s} | {p} | {us(prot)} | {us(sign)} | {r_sign} | {us(unprot)} | {us(verify)}"
            f" | {r_verify} | " + " | ".join(cmd) + " |"
        )
    lines += [
        "",
        f"Worst post-quantum protect(64 B) / sign, median of {len(rounds)} round(s): "
        f"{worst:.3f}× (bound {BOUND}×).",
        "",
    ]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "providers.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))

    # Plot: protect and unprotect of 64 B, per suite, one bar per provider.
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    suites = [s for s in SUITES if any(ps == s for ps, _ in pairs)]
    width = 0.8 / len(PROVIDERS)
    for ax, group, title in [
        (axes[0], "provider_protect", "protect, 64 B payload"),
        (axes[1], "provider_unprotect", "unprotect, 64 B payload"),
    ]:
        for i, p in enumerate(PROVIDERS):
            xs, ys = [], []
            for j, s in enumerate(suites):
                v = get(group, f"{p}/{s}", "64")
                if v is not None:
                    xs.append(j + (i - (len(PROVIDERS) - 1) / 2) * width)
                    ys.append(v / 1e3)
            if xs:
                ax.bar(xs, ys, width, label=p)
        ax.set_xticks(range(len(suites)))
        ax.set_xticklabels(suites)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0].set_ylabel("µs per message (median, log scale)")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "providers.png"), dpi=110)


if __name__ == "__main__":
    main()
