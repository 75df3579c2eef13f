"""helpers.scoreboard: the committed board is complete, consistent and reproducible."""
from __future__ import annotations

import math
from dataclasses import asdict

import pytest
from helpers import data, models, robustness, scoreboard
from helpers.train import predict


@pytest.fixture(scope="module")
def board():
    return scoreboard.read()


def test_committed_board_has_every_model_and_its_settings(board):
    settings, rows = board
    assert settings == asdict(scoreboard.DEFAULT)
    assert [r["model"] for r in rows] == list(scoreboard.MODELS)
    text = (scoreboard.results_dir() / "scoreboard.md").read_text()
    for row in rows:
        assert row["model"] in text
    for words in ("PGD-Linf", "square attack", "random search", f"{settings['dense']} test digits"):
        assert words in text


def test_committed_board_is_consistent(board):
    _, rows = board
    for row in rows:
        for norm, budgets in (("linf", scoreboard.LINF), ("l2", scoreboard.L2), ("l0", scoreboard.L0)):
            curve = [row[f"{norm}_{b}"] for b in budgets]
            assert all(0 <= v <= 1 for v in curve) and curve == sorted(curve, reverse=True), (row["model"], norm)
            assert curve[0] <= row["clean"] + 0.1  # a sample's accuracy, near the whole split's
        for r in scoreboard.L2:  # no attack beats a certificate
            if not math.isnan(row[f"cert_l2_{r}"]):
                assert row[f"cert_l2_{r}"] <= row[f"l2_{r}"], (row["model"], r)
        assert row["certificate_beaten"] == 0 or math.isnan(row["certificate_beaten"])
        assert row["k_below"] <= row["k_above"] or math.isnan(row["k_above"])
    lip = next(r for r in rows if r["model"] == "lipschitz_cnn")
    assert lip["cert_l2_1.58"] > 0.2  # the Lipschitz CNN's certificate is real, not vacuous
    vote = [r for r in rows if r["model"] in ("two_n", "layered")]
    assert all(r["cert_l0_1"] > 0.5 for r in vote)


def test_committed_clean_accuracy_and_cost_reproduce(board):
    _, rows = board
    x, y = data.load_dataset("mnist", "test", source="bundled")
    for row in rows:
        model = models.load_pretrained(row["model"])
        assert (predict(model, x).argmax(1) == y).float().mean().item() == pytest.approx(row["clean"], abs=1e-4)
        assert models.count_parameters(model) == row["parameters"]


def test_committed_robustness_reproduces_within_sampling_noise(board):
    settings, rows = board
    cnn_row = next(r for r in rows if r["model"] == "cnn")
    n = 60
    x, y = scoreboard.sample(settings["dense"], settings["seed"])
    cnn = models.load_pretrained("cnn")
    curve = robustness.robust_curve(cnn, x[:n], y[:n], "l2", scoreboard.L2, seed=settings["seed"])
    for b, v in zip(scoreboard.L2, curve):
        p = cnn_row[f"l2_{b}"]
        assert abs(v - p) <= 3 * math.sqrt(max(p * (1 - p), 0.01) / n) + 0.02, (b, v, p)


def test_write_then_read_round_trip(tmp_path):
    row = {c: 0.5 for c in scoreboard.COLUMNS}
    row.update(model="cnn", parameters=10, macs=20, k_above=math.nan, median_pixels=math.inf)
    scoreboard.write([row], scoreboard.QUICK, tmp_path)
    settings, rows = scoreboard.read(tmp_path / "scoreboard.csv")
    assert settings == asdict(scoreboard.QUICK)
    assert rows[0]["model"] == "cnn" and rows[0]["parameters"] == 10
    assert math.isnan(rows[0]["k_above"]) and math.isinf(rows[0]["median_pixels"])
    assert "| clean | 50.0% |" in (tmp_path / "scoreboard.md").read_text()


def test_merge_replaces_only_the_models_given(tmp_path):
    def row(name, value):
        out = {c: value for c in scoreboard.COLUMNS}
        out.update(model=name, parameters=1, macs=1)
        return out

    scoreboard.write([row("cnn", 0.1), row("two_n", 0.2), row("lipschitz_cnn", 0.3)], scoreboard.QUICK, tmp_path)
    merged = scoreboard.merge([row("two_n", 0.9), row("cnn_noise", 0.8)], scoreboard.QUICK, tmp_path)
    assert [r["model"] for r in merged] == ["cnn", "cnn_noise", "lipschitz_cnn", "two_n"]  # the board's order
    assert {r["model"]: r["clean"] for r in merged} == {"cnn": 0.1, "cnn_noise": 0.8, "lipschitz_cnn": 0.3,
                                                         "two_n": 0.9}
    with pytest.raises(ValueError, match="rebuild it whole"):
        scoreboard.merge([row("cnn", 0.5)], scoreboard.DEFAULT, tmp_path)


def test_bad_model_name():
    with pytest.raises(ValueError, match="name"):
        scoreboard.evaluate("resnet")


def test_compare_flags_only_differences_beyond_noise(board):
    settings, rows = board
    assert scoreboard.compare(rows, rows, settings) == []
    moved = [dict(row) for row in rows]
    moved[0]["l2_1.0"] = min(1.0, moved[0]["l2_1.0"] + 0.02)  # within noise at n = 100
    assert scoreboard.compare(moved, rows, settings) == []
    moved[0]["l2_1.0"] = (rows[0]["l2_1.0"] + 0.5) % 1.0  # far outside
    assert any("l2_1.0" in line for line in scoreboard.compare(moved, rows, settings))


def test_caper_rates_read_from_the_board(board):
    _, rows = board
    named = {"cnn": None, "two_n": None}  # reading the board needs no model
    rates = scoreboard.caper_rates(named)
    for row in rows:
        if row["model"] in named:
            assert rates[row["model"]] == {"smudges": row["caper_smudges"], "glasses": row["caper_glasses"]}
    assert all(0.0 <= v <= 1.0 for r in rates.values() for v in r.values())
    with pytest.raises(ValueError, match="not on the committed board: cnn_m3"):
        scoreboard.caper_rates({"cnn": None, "cnn_m3": None})
