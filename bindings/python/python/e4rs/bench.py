"""Compare the cost of E4 suites and crypto providers from Python.

>>> from e4rs import bench
>>> results = bench.compare(suites=["symmetric", "pq"], sizes=[64, 1024])
>>> for r in results:
...     print(r.suite, r.provider, r.size, r.protect_us, r.unprotect_us, r.overhead_bytes)
>>> frame = results.to_dataframe()      # needs pandas

Each measurement runs in Rust with the GIL released: a sender and a
receiver of the suite share a topic key (the receiver knows the sender's
public key), protect is timed on one payload and unprotect on the message
it produced (the receiver's replay rejection is off so that the same
message can be opened repeatedly), each for at least ``min_time`` seconds
and ``min_iterations`` calls. Figures are means per call.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Sequence

from . import _e4rs

if TYPE_CHECKING:  # pragma: no cover
    import pandas  # type: ignore[import-untyped,import-not-found,unused-ignore]

__all__ = ["Record", "Results", "compare", "DEFAULT_SIZES"]

DEFAULT_SIZES = (64, 1024, 16384)
"""Payload sizes measured by default (bytes)."""


@dataclass(frozen=True)
class Record:
    """One measurement: a suite, a provider and a payload size."""

    suite: str
    """Suite name (``symmetric``, ``pubkey``, ``pq``, ``pq-draft``, ``hybrid``)."""
    provider: str
    """Crypto provider name."""
    size: int
    """Payload bytes."""
    protect_us: float
    """Mean microseconds per protect."""
    unprotect_us: float
    """Mean microseconds per unprotect."""
    overhead_bytes: int
    """Bytes protection adds to the payload."""
    protected_bytes: int
    """Bytes on the wire (``size + overhead_bytes``)."""
    protect_per_s: float
    """Protects per second (one core)."""
    unprotect_per_s: float
    """Unprotects per second (one core)."""
    protect_iterations: int
    """Calls timed for protect."""
    unprotect_iterations: int
    """Calls timed for unprotect."""

    def as_dict(self) -> Dict[str, Any]:
        """The record as a plain dict."""
        return dataclasses.asdict(self)


class Results(List[Record]):
    """The records of :func:`compare` (a list), with conversions."""

    def as_dicts(self) -> List[Dict[str, Any]]:
        """The records as plain dicts."""
        return [r.as_dict() for r in self]

    def to_dataframe(self) -> "pandas.DataFrame":
        """The records as a pandas DataFrame (one row per record, one
        column per field). Raises ImportError when pandas is not installed."""
        try:
            import pandas
        except ImportError as e:  # pragma: no cover - depends on the machine
            raise ImportError(
                "e4rs.bench: to_dataframe() needs pandas (pip install pandas)"
            ) from e
        columns = [f.name for f in dataclasses.fields(Record)]
        return pandas.DataFrame(self.as_dicts(), columns=columns)


def _names(given: Optional[Iterable[str]], available: Sequence[str], what: str) -> List[str]:
    if given is None:
        return list(available)
    if isinstance(given, str):
        given = [given]
    names = list(given)
    if not names:
        raise ValueError(f"no {what} given")
    return names


def compare(
    suites: Optional[Iterable[str]] = None,
    sizes: Iterable[int] = DEFAULT_SIZES,
    providers: Optional[Iterable[str]] = None,
    *,
    min_time: float = 0.2,
    min_iterations: int = 10,
    max_iterations: int = 1_000_000,
    as_frame: bool = False,
) -> "Results | pandas.DataFrame":
    """Measure protect and unprotect for every suite × provider × size.

    ``suites`` and ``providers`` default to everything compiled in; a
    provider that does not implement a suite is skipped for it (when both
    are given explicitly and no provider implements a suite, that is an
    :class:`e4rs.UnsupportedSuite` error). Unknown names raise
    :class:`e4rs.UnknownSuite` / :class:`e4rs.UnknownProvider`.

    Returns :class:`Results` (a list of :class:`Record`), or a pandas
    DataFrame with ``as_frame=True``.
    """
    from ._errors import UnknownSuite, UnsupportedSuite

    compiled = _e4rs.providers()
    suite_names = _names(suites, [s.name for s in _e4rs.suites()], "suites")
    provider_names = _names(providers, [p.name for p in compiled], "providers")
    size_list = [int(s) for s in sizes]
    if not size_list:
        raise ValueError("no sizes given")
    if any(s < 1 for s in size_list):
        # E4 refuses to unprotect an empty payload (as e4go does).
        raise ValueError("sizes must be >= 1 byte")
    for suite in suite_names:
        if suite not in _e4rs.ALL_SUITES:
            raise UnknownSuite(
                f"unknown suite `{suite}` (known: {', '.join(_e4rs.ALL_SUITES)})",
                "unknown_suite",
            )
    offered = {p.name: set(p.suites) for p in compiled}
    results = Results()
    for suite in suite_names:
        measured = False
        for provider in provider_names:
            if provider in offered and suite not in offered[provider]:
                continue
            for size in size_list:
                protect_s, unprotect_s, n_p, n_u, overhead = _e4rs._measure(
                    suite,
                    provider,
                    size,
                    min_time=min_time,
                    min_iterations=min_iterations,
                    max_iterations=max_iterations,
                )
                results.append(
                    Record(
                        suite=suite,
                        provider=provider,
                        size=size,
                        protect_us=protect_s * 1e6,
                        unprotect_us=unprotect_s * 1e6,
                        overhead_bytes=overhead,
                        protected_bytes=size + overhead,
                        protect_per_s=1.0 / protect_s if protect_s > 0 else float("inf"),
                        unprotect_per_s=1.0 / unprotect_s if unprotect_s > 0 else float("inf"),
                        protect_iterations=n_p,
                        unprotect_iterations=n_u,
                    )
                )
            measured = True
        if not measured:
            raise UnsupportedSuite(
                f"no provider among {provider_names} implements suite `{suite}`",
                "unsupported_suite",
            )
    return results.to_dataframe() if as_frame else results
