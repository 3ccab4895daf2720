#!/usr/bin/env python3
"""Tables and plots of the e4-benches results.

Reads criterion's output (target/criterion/**/new/{benchmark,estimates}.json,
and target/criterion-aesni for the build with AES-NI enabled at compile
time), benches/results/openssl-speed.txt for the AES-SIV limit, and writes
benches/results/tables.md and benches/results/*.png.

Every time is criterion's median (robust to the odd preempted sample);
benchmarks report Throughput::Elements(messages per iteration), so messages
per second = elements / median.

    python3 benches/plot.py            (needs matplotlib: pip install matplotlib)
"""

import glob
import json
import os
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CRIT = os.environ.get("CRITERION_HOME", os.path.join(ROOT, "target", "criterion"))
CRIT_AESNI = os.path.join(ROOT, "target", "criterion-aesni")
OUT = os.path.join(HERE, "results")

SIZES = [16, 64, 256, 1024, 16384]
SUITES = ["symmetric", "pubkey", "pq", "pq-draft", "hybrid"]
# Cited, not measured here (Go is not installed; see RESULTS.md).
ANCHORS = {
    "e4go": {64: 156e3, 16384: 177e6 / 16384},
    "libe4 -O2": {64: 360e3, 16384: 66e6 / 16384},
}
TARGET_64 = 2.4e6


def load(base):
    res = {}
    for bj in glob.glob(os.path.join(base, "**", "new", "benchmark.json"), recursive=True):
        with open(bj) as f:
            b = json.load(f)
        with open(os.path.join(os.path.dirname(bj), "estimates.json")) as f:
            e = json.load(f)
        elems = (b.get("throughput") or {}).get("Elements", 1)
        ns = e["median"]["point_estimate"]
        key = (b["group_id"], b.get("function_id") or "", b.get("value_str") or "")
        res[key] = {"ns": ns, "msg_ns": ns / elems, "mps": elems * 1e9 / ns}
    return res


def openssl_limit():
    """AES-256-CBC and -CTR at 16 KiB (bytes/s) and the single-message
    AES-SIV limit 1 / (1/cbc + 1/ctr)."""
    path = os.path.join(OUT, "openssl-speed.txt")
    if not os.path.exists(path):
        return None
    rates = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"(AES-256-\w+)\s+(.*)", line.strip())
            if m:
                cols = [float(x.rstrip("k")) * 1000 for x in m.group(2).split()]
                rates[m.group(1)] = cols  # 16, 64, 256, 1024, 8192, 16384 bytes
    cbc, ctr = rates["AES-256-CBC"][-1], rates["AES-256-CTR"][-1]
    return {"cbc": cbc, "ctr": ctr, "siv": 1 / (1 / cbc + 1 / ctr), "rates": rates}


def fmt_rate(mps):
    if mps >= 1e6:
        return f"{mps / 1e6:.2f} M"
    if mps >= 1e3:
        return f"{mps / 1e3:.1f} k"
    return f"{mps:.0f}"


def fmt_time(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def mbs(mps, n):
    return f"{mps * n / 1e6:.0f}"


def main():
    os.makedirs(OUT, exist_ok=True)
    r = load(CRIT)
    ra = load(CRIT_AESNI) if os.path.isdir(CRIT_AESNI) else {}
    lim = openssl_limit()
    md = []

    def get(g, f, v, src=None):
        return (src or r).get((g, f, str(v)))

    # --- 1. every suite, protect and unprotect
    for group in ["protect", "unprotect"]:
        md.append(f"\n### `{group}` (Client::{group}_hashed), messages/s (MB/s at 16 KiB)\n")
        md.append("| suite | " + " | ".join(f"{n} B" for n in SIZES) + " |")
        md.append("| --- |" + " ---: |" * len(SIZES))
        for s in SUITES:
            cells = []
            for n in SIZES:
                x = get(group, s, n)
                cells.append("" if x is None else fmt_rate(x["mps"]) + (f" ({mbs(x['mps'], n)} MB/s)" if n == 16384 else ""))
            if any(cells):
                md.append(f"| {s} | " + " | ".join(cells) + " |")

    # --- 2. symmetric paths
    paths = [
        ("protect_aes_siv_0_7", "protect_hashed, aes-siv 0.7 (before)"),
        ("protect_topic_name", "protect(topic name): SHA3 + AesSiv"),
        ("protect", "protect_hashed: AesSiv (key expanded per call)"),
        ("protect_topic_cipher", "TopicCipher::protect (prepared key)"),
        ("protect_batch", "protect_batch (64 msgs, key expanded per batch)"),
        ("protect_batch_topic_cipher", "TopicCipher::protect_batch (64 msgs)"),
        ("unprotect", "unprotect_hashed: AesSiv"),
        ("unprotect_topic_cipher", "TopicCipher::unprotect"),
    ]
    for title, src in [("run-time AES-NI detection (default build)", r),
                       ("AES-NI at compile time (`RUSTFLAGS=\"-C target-feature=+aes,+ssse3\"`)", ra)]:
        if not src:
            continue
        md.append(f"\n### Symmetric suite hot paths, {title}: messages/s (MB/s)\n")
        md.append("| path | " + " | ".join(f"{n} B" for n in SIZES) + " |")
        md.append("| --- |" + " ---: |" * len(SIZES))
        for g, label in paths:
            cells = []
            for n in SIZES:
                x = get(g, "symmetric", n, src)
                cells.append("" if x is None else f"{fmt_rate(x['mps'])} ({mbs(x['mps'], n)})")
            if any(cells):
                md.append(f"| {label} | " + " | ".join(cells) + " |")

    # --- 3. raw AES-SIV
    for title, src in [("run-time detection", r), ("AES-NI at compile time", ra)]:
        if not src:
            continue
        md.append(f"\n### Raw AES-SIV (8-byte AD), {title}: messages/s (MB/s)\n")
        md.append("| implementation | " + " | ".join(f"{n} B" for n in SIZES) + " |")
        md.append("| --- |" + " ---: |" * len(SIZES))
        for g, f, label in [
            ("siv_seal", "aes-siv-0.7", "seal, aes-siv 0.7, new cipher per call (before)"),
            ("siv_seal", "aes-siv-0.7-reused", "seal, aes-siv 0.7, cipher reused"),
            ("siv_seal", "AesSiv", "seal, base::AesSiv (expands per call)"),
            ("siv_seal", "PreparedSiv", "seal, base::PreparedSiv"),
            ("siv_seal_many", "PreparedSiv", "seal_many (64 msgs), PreparedSiv"),
            ("siv_open", "aes-siv-0.7", "open, aes-siv 0.7 (before)"),
            ("siv_open", "AesSiv", "open, base::AesSiv"),
            ("siv_open", "PreparedSiv", "open, base::PreparedSiv"),
        ]:
            cells = []
            for n in SIZES:
                x = get(g, f, n, src)
                cells.append("" if x is None else f"{fmt_rate(x['mps'])} ({mbs(x['mps'], n)})")
            if any(cells):
                md.append(f"| {label} | " + " | ".join(cells) + " |")
        setup = [(k[1], v) for k, v in src.items() if k[0] == "per_call_setup"]
        if setup:
            md.append("\nPer-call setup costs: " + ", ".join(f"`{f}` {fmt_time(v['ns'])}" for f, v in sorted(setup)) + ".")

    # --- 4. commands and key generation
    md.append("\n### Commands and key generation: time per operation (× symmetric)\n")
    md.append("| suite | C2 seals a SetTopicKey | client processes it | key generation |")
    md.append("| --- | ---: | ---: | ---: |")
    for s in SUITES:
        cells = []
        for g in ["command_seal", "command_process", "keygen"]:
            x, base = get(g, "", s), get(g, "", "symmetric")
            cells.append("" if x is None else fmt_time(x["ns"]) + ("" if base is None or s == "symmetric" else f" ({x['ns'] / base['ns']:.0f}×)"))
        if any(cells):
            md.append(f"| {s} | " + " | ".join(cells) + " |")

    # --- 5. overhead
    ov_path = os.path.join(CRIT, "e4-overhead.json")
    ov = json.load(open(ov_path)) if os.path.exists(ov_path) else {}
    if ov:
        md.append("\n### Overhead in bytes (measured by protecting)\n")
        md.append("| suite | message | command (SetTopicKey) | of which signature | 16 B payload becomes |")
        md.append("| --- | ---: | ---: | ---: | ---: |")
        for s in SUITES:
            if s in ov:
                o = ov[s]
                md.append(f"| {s} | {o['message']} | {o['command']} | {o['signature']} | {16 + o['message']} B ({(16 + o['message']) / 16:.1f}×) |")

    # --- 6. targets: criterion medians, and the minimum-of-runs table of
    #        examples/quick.rs (robust to a busy machine)
    quick = {}
    qpath = os.path.join(OUT, "quick-runtime-detection.txt")
    if os.path.exists(qpath):
        with open(qpath) as f:
            for line in f:
                m = re.match(r"(.+?)\s+(\d+) B\s+([\d.]+) ns/msg", line)
                if m:
                    quick[(m.group(1).strip(), int(m.group(2)))] = 1e9 / float(m.group(3))
    md.append("\n### Targets\n")
    md.append("| target | criterion median | minimum of runs | verdict (minimum of runs) |")
    md.append("| --- | ---: | ---: | --- |")

    def target_row(label, crit, q, goal, unit_fmt):
        ok = q is not None and q >= goal
        md.append(f"| {label} ≥ {unit_fmt(goal)} | {'' if crit is None else unit_fmt(crit)} | "
                  f"{'' if q is None else unit_fmt(q)} | "
                  f"{'met' if ok else 'NOT met'}{'' if q is None else f' ({q / goal * 100:.0f} % of target)'} |")

    for g, qn, label in [("protect", "client protect_hashed", "protect_hashed"),
                         ("protect_topic_cipher", "TopicCipher protect", "TopicCipher::protect")]:
        x = get(g, "symmetric", 64)
        target_row(f"64 B {label}, msgs/s", x and x["mps"], quick.get((qn, 64)), TARGET_64, fmt_rate)
    if lim:
        mb = lambda v: f"{v:.0f}"  # noqa: E731
        for g, f, qn, label in [("protect", "symmetric", "client protect_hashed", "protect_hashed"),
                                ("protect_topic_cipher", "symmetric", "TopicCipher protect", "TopicCipher::protect"),
                                ("siv_seal", "PreparedSiv", "siv PreparedSiv", "raw PreparedSiv seal")]:
            x = get(g, f, 16384)
            q = quick.get((qn, 16384))
            target_row(f"16 KiB {label}, MB/s (85 % of the {lim['siv'] / 1e6:.0f} MB/s limit)",
                       x and x["mps"] * 16384 / 1e6, q and q * 16384 / 1e6, 0.85 * lim["siv"] / 1e6, mb)
        for g, qn, label in [("protect_batch_topic_cipher", "TopicCipher protect_batch", "TopicCipher::protect_batch"),
                             ("protect_batch", "client protect_batch", "protect_batch")]:
            x = get(g, "symmetric", 16384)
            q = quick.get((qn, 16384))
            target_row(f"16 KiB {label}, MB/s (above the single-message limit)",
                       x and x["mps"] * 16384 / 1e6, q and q * 16384 / 1e6, lim["siv"] / 1e6, mb)
        md.append(f"\nLimit: OpenSSL `speed -evp` at 16 KiB, AES-256-CBC {lim['cbc'] / 1e6:.0f} MB/s (the serial CMAC bound), "
                  f"AES-256-CTR {lim['ctr'] / 1e6:.0f} MB/s: 1/(1/cbc + 1/ctr) = {lim['siv'] / 1e6:.0f} MB/s for one message at a time.")

    with open(os.path.join(OUT, "tables.md"), "w") as f:
        f.write("\n".join(md).lstrip() + "\n")
    print("\n".join(md))

    # --- plots
    colors = dict(zip(SUITES, ["tab:blue", "tab:orange", "tab:green", "tab:olive", "tab:red"]))
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    for ax, group in zip(axes, ["protect", "unprotect"]):
        for s in SUITES:
            pts = [(n, get(group, s, n)) for n in SIZES]
            pts = [(n, x["mps"]) for n, x in pts if x]
            if pts:
                ax.plot(*zip(*pts), "o-", color=colors[s], label=f"{s} ({group}_hashed)")
        extra = [("protect_topic_cipher", "symmetric, TopicCipher", "s--"),
                 ("protect_batch_topic_cipher", "symmetric, TopicCipher batch of 64", "^:")] if group == "protect" else \
                [("unprotect_topic_cipher", "symmetric, TopicCipher", "s--")]
        for g, label, style in extra:
            pts = [(n, get(g, "symmetric", n)) for n in SIZES]
            pts = [(n, x["mps"]) for n, x in pts if x]
            if pts:
                ax.plot(*zip(*pts), style, color="tab:blue", alpha=0.7, label=label)
        if group == "protect":
            for name, m in ANCHORS.items():
                ax.plot(list(m.keys()), list(m.values()), "x", ms=10, mew=2,
                        color="gray" if name == "e4go" else "black", label=f"{name} (cited, not measured)")
            ax.axhline(TARGET_64, color="gray", lw=0.8, ls="--")
            ax.text(16, TARGET_64 * 1.1, "target at 64 B: 2.4 M/s", fontsize=8, color="gray")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(SIZES, [str(n) for n in SIZES])
        ax.set_xlabel("payload (bytes)")
        ax.set_title(f"{group}: messages per second, one core")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("messages / s")
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "messages_per_second.png"), dpi=110)

    # relative cost
    ops = [("protect", "64", "protect 64 B"), ("unprotect", "64", "unprotect 64 B"),
           ("protect", "16384", "protect 16 KiB"), ("unprotect", "16384", "unprotect 16 KiB"),
           ("command_seal", None, "C2 seals command"), ("command_process", None, "client processes command"),
           ("keygen", None, "key generation")]
    fig, ax = plt.subplots(figsize=(12, 5))
    width = 0.8 / len(SUITES)
    for i, s in enumerate(SUITES):
        vals = []
        for g, n, _ in ops:
            x = get(g, s, n) if n else get(g, "", s)
            b = get(g, "symmetric", n) if n else get(g, "", "symmetric")
            vals.append(x["ns"] / b["ns"] if x and b else 0)
        xs = [j + (i - len(SUITES) / 2 + 0.5) * width for j in range(len(ops))]
        bars = ax.bar(xs, vals, width, color=colors[s], label=s)
        for bx, v in zip(bars, vals):
            if v:
                ax.text(bx.get_x() + bx.get_width() / 2, v * 1.05, f"{v:.0f}×" if v >= 10 else f"{v:.1f}×",
                        ha="center", fontsize=6, rotation=90)
    ax.set_yscale("log")
    ax.set_xticks(range(len(ops)), [o[2] for o in ops], fontsize=8)
    ax.set_ylabel("time relative to the symmetric suite")
    ax.set_title("Cost of each suite relative to symmetric (criterion medians)")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "relative_cost.png"), dpi=110)

    # symmetric throughput vs limits
    fig, ax = plt.subplots(figsize=(10, 5.5))
    lines = [("protect_aes_siv_0_7", "symmetric", "protect_hashed with aes-siv 0.7 (before)", "x:", "tab:gray", r),
             ("protect", "symmetric", "protect_hashed (AesSiv, key expanded per call)", "o-", "tab:blue", r),
             ("protect_topic_cipher", "symmetric", "TopicCipher::protect", "s-", "tab:green", r),
             ("protect_topic_cipher", "symmetric", "TopicCipher::protect, AES-NI at compile time", "s--", "tab:olive", ra),
             ("protect_batch_topic_cipher", "symmetric", "TopicCipher::protect_batch (64)", "^-", "tab:red", r),
             ("unprotect_topic_cipher", "symmetric", "TopicCipher::unprotect", "d-", "tab:purple", r)]
    for g, f, label, style, color, src in lines:
        pts = [(n, get(g, f, n, src)) for n in SIZES]
        pts = [(n, x["mps"] * n / 1e6) for n, x in pts if x]
        if pts:
            ax.plot(*zip(*pts), style, color=color, label=label)
    for qn, label, style, color in [("siv PreparedSiv", "raw PreparedSiv seal, minimum of runs", "*-.", "black"),
                                    ("TopicCipher protect", "TopicCipher::protect, minimum of runs", "s-.", "tab:green"),
                                    ("TopicCipher protect_batch", "TopicCipher::protect_batch, minimum of runs", "^-.", "tab:red")]:
        pts = [(n, quick[(qn, n)] * n / 1e6) for n in SIZES if (qn, n) in quick]
        if pts:
            ax.plot(*zip(*pts), style, color=color, alpha=0.6, label=label)
    if lim:
        ax.axhline(lim["siv"] / 1e6, color="black", lw=1)
        ax.text(16, lim["siv"] / 1e6 * 1.06, f"single-message AES-SIV limit {lim['siv'] / 1e6:.0f} MB/s (OpenSSL CBC+CTR)", fontsize=8)
        ax.axhline(0.85 * lim["siv"] / 1e6, color="black", lw=0.8, ls="--")
        ax.text(16, 0.85 * lim["siv"] / 1e6 * 0.86, "85 % of it (target at 16 KiB)", fontsize=8)
    for name, m in ANCHORS.items():
        ax.plot(list(m.keys()), [v * n / 1e6 for n, v in m.items()], "x", ms=10, mew=2,
                color="gray" if name == "e4go" else "black", label=f"{name} (cited, not measured)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(SIZES, [str(n) for n in SIZES])
    ax.set_xlabel("payload (bytes)")
    ax.set_ylabel("payload MB/s, one core")
    ax.set_title("Symmetric suite: protect throughput against the AES-SIV limit\n(solid/dashed: criterion medians on a loaded machine; dash-dot: minimum of runs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "symmetric_throughput.png"), dpi=110)

    if ov:
        fig, ax = plt.subplots(figsize=(8, 4))
        ss = [s for s in SUITES if s in ov]
        xs = range(len(ss))
        ax.bar([x - 0.2 for x in xs], [ov[s]["message"] for s in ss], 0.4, label="topic message")
        ax.bar([x + 0.2 for x in xs], [ov[s]["command"] for s in ss], 0.4, label="command (SetTopicKey)")
        for x, s in zip(xs, ss):
            ax.text(x - 0.2, ov[s]["message"] * 1.08, str(ov[s]["message"]), ha="center", fontsize=8)
            ax.text(x + 0.2, ov[s]["command"] * 1.08, str(ov[s]["command"]), ha="center", fontsize=8)
        ax.set_yscale("log")
        ax.set_xticks(list(xs), ss)
        ax.set_ylabel("bytes added to the payload")
        ax.set_title("Overhead per message and per command")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(OUT, "overhead.png"), dpi=110)


if __name__ == "__main__":
    main()
