#!/usr/bin/env python3
"""Plot the cost of every E4 suite and crypto provider with matplotlib.

    pip install ./bindings/python matplotlib
    python bindings/python/examples/plot_compare.py --out compare.png

Measures protect and unprotect per suite, provider and payload size with
e4rs.bench.compare (the work runs in Rust), prints a table and writes a
figure: time per message (log scale) against payload size, one panel for
protect and one for unprotect, one line per suite and provider, with each
suite's overhead in the legend. Use the release wheel (plain ``pip install
./bindings/python``) for meaningful figures.
"""

from __future__ import annotations

import argparse
import sys
from typing import Dict, List, Tuple

import e4rs
from e4rs import bench


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="e4rs-compare.png", help="image to write (PNG, SVG, PDF)")
    ap.add_argument("--suites", nargs="*", default=None,
                    help=f"suites (default: all of {[s.name for s in e4rs.suites()]})")
    ap.add_argument("--providers", nargs="*", default=None,
                    help=f"providers (default: all of {[p.name for p in e4rs.providers()]})")
    ap.add_argument("--sizes", nargs="*", type=int, default=[64, 256, 1024, 4096, 16384],
                    help="payload sizes in bytes")
    ap.add_argument("--min-time", type=float, default=0.2,
                    help="seconds measured per point and operation")
    args = ap.parse_args(argv)

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_compare.py needs matplotlib: pip install matplotlib", file=sys.stderr)
        return 2

    results = bench.compare(suites=args.suites, sizes=args.sizes, providers=args.providers,
                            min_time=args.min_time)

    print(f"{'suite':<10} {'provider':<11} {'size':>7} {'protect µs':>11} "
          f"{'unprotect µs':>13} {'overhead':>9}")
    for r in results:
        print(f"{r.suite:<10} {r.provider:<11} {r.size:>7} {r.protect_us:>11.2f} "
              f"{r.unprotect_us:>13.2f} {r.overhead_bytes:>8} B")

    series: Dict[Tuple[str, str], List[bench.Record]] = {}
    for r in results:
        series.setdefault((r.suite, r.provider), []).append(r)

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), sharey=True)
    suite_names = sorted({s for s, _ in series}, key=list(e4rs.ALL_SUITES).index)
    colors = {s: plt.get_cmap("tab10")(i) for i, s in enumerate(suite_names)}
    providers = sorted({p for _, p in series})
    styles = {p: ("-", "--", ":", "-.")[i % 4] for i, p in enumerate(providers)}
    markers = {p: ("o", "s", "^", "D")[i % 4] for i, p in enumerate(providers)}
    for ax, field, title in ((axes[0], "protect_us", "protect"),
                             (axes[1], "unprotect_us", "unprotect")):
        for (suite, provider), recs in series.items():
            recs = sorted(recs, key=lambda r: r.size)
            ax.plot([r.size for r in recs], [getattr(r, field) for r in recs],
                    color=colors[suite], linestyle=styles[provider], marker=markers[provider],
                    label=f"{suite} / {provider} (+{recs[0].overhead_bytes} B)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("payload (bytes)")
        ax.set_title(f"{title}: time per message")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("µs per message (mean, one core)")
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle("e4rs: E4 suites and crypto providers")
    fig.tight_layout()
    fig.savefig(args.out, dpi=120, bbox_inches="tight")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
