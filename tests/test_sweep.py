"""The wiring sweep's runner and its committed table (helpers/sweep.py, results/sweep.csv)."""
from __future__ import annotations

import pytest

from helpers import sweep


def test_points_have_unique_keys_and_valid_groupings():
    keys = [p.key for p in sweep.GRID]
    assert len(keys) == len(set(keys))
    for p in sweep.GRID + sweep.QUICK_GRID:
        assert p.mask().any(1).all()
    with pytest.raises(ValueError, match="grouping"):
        sweep.Point("spiral", 16)
    with pytest.raises(ValueError, match="repetitions"):
        sweep.Point("random", 16, 0)


def test_a_run_is_resumable_and_its_certificates_hold(tmp_path, monkeypatch):
    path = tmp_path / "sweep.csv"
    point = sweep.Point("strided", 49, epochs=1)
    budget = sweep.Budget(test_digits=300, attack_digits=6, max_pixels=10)
    rows = sweep.run([point], path, budget)
    assert [r["readout"] for r in rows] == ["soft", "hard"]
    for r in rows:
        assert r["beaten"] == 0 and r["test_digits"] == 300 and r["voters"] == 16 and r["reach"] == 1
        assert 0 < r["clean_lo"] <= r["clean"] <= r["clean_hi"] <= 1
        assert r["median_certified_lo"] <= r["median_certified"] <= r["median_certified_hi"]
        assert r["median_certified"] <= r["ceiling"] == 8
        at = [r[f"certified_at_{k}"] for k in sweep.CERTIFIED_AT]
        assert at == sorted(at, reverse=True) and at[0] <= r["clean"]
    shown = sweep.examples(path)
    assert len(shown[f"{point.key}|hard"]) == 6
    calls = []
    monkeypatch.setattr(sweep, "run_point", lambda *a, **k: calls.append(a) or [])
    again = sweep.run([point], path, budget)
    assert calls == [] and len(again) == 2  # nothing retrained


def test_frontier():
    rows = [{"clean": 0.9, "median_certified": 5}, {"clean": 0.95, "median_certified": 3},
            {"clean": 0.85, "median_certified": 4}, {"clean": 0.95, "median_certified": 5}]
    assert sweep.frontier(rows) == [{"clean": 0.95, "median_certified": 5}]


def test_committed_table_covers_the_grid_and_no_certificate_was_beaten():
    rows = sweep.read()
    if not rows:
        pytest.skip("results/sweep.csv not yet generated")
    keys = {r["key"] for r in rows}
    assert {p.key for p in sweep.GRID} <= keys
    for r in rows:
        assert r["beaten"] == 0
        assert r["median_certified"] <= r["ceiling"] + 1e-9
        assert r["test_digits"] == 10_000
