"""e4rs.bench: records per suite, provider and size."""

from __future__ import annotations

import dataclasses
import importlib.util

import pytest

import e4rs
from e4rs import bench


def test_compare_records() -> None:
    results = bench.compare(suites=["symmetric", "pq"], sizes=[1, 64],
                            providers=["rustcrypto", "small"], min_time=0.0, min_iterations=3)
    # small has no pq: skipped for it.
    got = [(r.suite, r.provider, r.size) for r in results]
    assert got == [
        ("symmetric", "rustcrypto", 1),
        ("symmetric", "rustcrypto", 64),
        ("symmetric", "small", 1),
        ("symmetric", "small", 64),
        ("pq", "rustcrypto", 1),
        ("pq", "rustcrypto", 64),
    ]
    overhead = {s.name: s.message_overhead for s in e4rs.suites()}
    for r in results:
        assert isinstance(r, bench.Record)
        assert r.overhead_bytes == overhead[r.suite]
        assert r.protected_bytes == r.size + r.overhead_bytes
        assert r.protect_us > 0 and r.unprotect_us > 0
        assert r.protect_per_s == pytest.approx(1e6 / r.protect_us)
        assert r.protect_iterations >= 3 and r.unprotect_iterations >= 3
        assert set(r.as_dict()) == {f.name for f in dataclasses.fields(bench.Record)}
    assert results.as_dicts()[0]["suite"] == "symmetric"


def test_compare_defaults_cover_every_pair() -> None:
    results = bench.compare(sizes=[64], min_time=0.0, min_iterations=1)
    pairs = {(r.suite, r.provider) for r in results}
    assert pairs == {(s.name, p) for s in e4rs.suites() for p in s.providers}


def test_compare_names() -> None:
    with pytest.raises(e4rs.UnknownSuite):
        bench.compare(suites=["rot13"], sizes=[1], min_time=0.0)
    with pytest.raises(e4rs.UnknownProvider):
        bench.compare(suites=["symmetric"], providers=["openssl"], sizes=[1], min_time=0.0)
    with pytest.raises(e4rs.UnsupportedSuite):
        bench.compare(suites=["pq"], providers=["small"], sizes=[1], min_time=0.0)
    with pytest.raises(ValueError):
        bench.compare(suites=["symmetric"], sizes=[], min_time=0.0)
    with pytest.raises(ValueError):
        bench.compare(suites=["symmetric"], sizes=[0], min_time=0.0)
    with pytest.raises(e4rs.InvalidArgument):
        bench.compare(suites=["symmetric"], sizes=[1], min_time=float("nan"))


def test_dataframe() -> None:
    results = bench.compare(suites="symmetric", sizes=[16], providers="small", min_time=0.0)
    if importlib.util.find_spec("pandas") is None:
        with pytest.raises(ImportError):
            results.to_dataframe()
        return
    frame = results.to_dataframe()
    assert list(frame["suite"]) == ["symmetric"]
    assert list(frame.columns) == [f.name for f in dataclasses.fields(bench.Record)]
    frame2 = bench.compare(suites="symmetric", sizes=[16], providers="small", min_time=0.0,
                           as_frame=True)
    assert list(frame2["provider"]) == ["small"]
