"""helpers.scoreboard: the committed board is complete, consistent and reproducible from its
per-digit files; the run resumes; bad input is refused clearly."""
from __future__ import annotations

import math
import sys
from collections import Counter
from dataclasses import asdict

import pytest
import torch
from helpers import autoattack, certainty, data, digits, integrity, models, robustness, routing, scoreboard, votes
from helpers.train import predict


@pytest.fixture(scope="module")
def board():
    return scoreboard.read()


def test_committed_board_has_every_model_and_its_settings(board):
    settings, rows = board
    assert settings == asdict(scoreboard.DEFAULT)
    assert settings["dense"] >= 500 and settings["sparse"] >= 200 and settings["caper"] >= 200
    assert settings["square_iterations"] >= 5000  # the Square Attack paper's budget, as AutoAttack runs it
    assert settings["checked"] >= 500
    for row in rows:  # every certificate with a check of its own is attacked on >= 500 distinct certified digits
        if row["model"] in scoreboard.CHECKED_VOTES + scoreboard.CHECKED_LIPSCHITZ:
            assert row["certificates_checked"] == settings["checked"] and row["certificate_beaten"] == 0, row["model"]
    assert [r["model"] for r in rows] == list(scoreboard.MODELS)
    text = (scoreboard.results_dir() / "scoreboard.md").read_text()
    for row in rows:
        assert row["model"] in text
    for words in ("PGD-Linf", "square attack", "random search", "AutoAttack", "standard version", "Wilson",
                  f"{settings['dense']} test digits", "5000 queries"):
        assert words in text, words
    for row in rows:  # a model AutoAttack has not reached is named as such
        assert bool(row["autoattack"]) or f"not been run yet on" in text


def _intervals(row: dict):
    for key, value in row.items():
        if f"{key}_lo" in row and not (isinstance(value, float) and math.isnan(value)):
            yield key, row[f"{key}_lo"], value, row[f"{key}_hi"]


def test_committed_board_is_consistent(board):
    settings, rows = board
    for row in rows:
        name = row["model"]
        for key, lo, value, hi in _intervals(row):
            assert lo <= value <= hi, (name, key, lo, value, hi)
        for norm, budgets in (("linf", scoreboard.LINF), ("l2", scoreboard.L2)):
            for eps in budgets:
                key = f"{norm}_{eps}"
                assert row[key] <= row[f"{key}_course"], (name, key)
                aa = row[f"{key}_autoattack"]
                if math.isnan(aa):  # AutoAttack not run here yet: the row and the header say so
                    assert not row["autoattack"], (name, key)
                    if name not in scoreboard.VOTE_MODELS:  # no adaptive attack either: the course's figure
                        assert row[key] == row[f"{key}_course"], (name, key)
                else:
                    assert row[key] <= aa, (name, key)
                assert row[key] <= row["clean"] + 0.05, (name, key)
        curve = [row[f"l0_{k}"] for k in scoreboard.L0]
        assert curve == sorted(curve, reverse=True), name
        assert row["certificate_beaten"] == 0, name
        assert row["k_below"] <= row["k_above"] or math.isnan(row["k_above"])
    lip = next(r for r in rows if r["model"] == "lipschitz_cnn")
    assert lip["cert_l2_1.58"] > 0.2 and lip["certificates_checked"] > 100
    for r in rows:
        if r["model"] in scoreboard.VOTE_MODELS:
            assert r["cert_l0_1"] > 0.5 and r["certificates_checked"] >= 0.5 * settings["sparse"]


def test_every_row_is_recomputed_from_its_per_digit_files(board):
    settings, rows = board
    for row in rows:
        again = scoreboard.row_of(row["model"], scoreboard.Settings(**settings))
        for key in scoreboard.COLUMNS[1:]:
            a, b = again.get(key, math.nan), row[key]
            if isinstance(b, float) and math.isnan(b):
                assert a is None or (isinstance(a, float) and math.isnan(a)), (row["model"], key)
            else:
                assert float(a) == pytest.approx(b, rel=1e-5, abs=1e-6), (row["model"], key)


def test_per_digit_files_hold_the_shared_sample(board):
    settings, rows = board
    dense = digits.sample_indices(settings["dense"], settings["seed"]).tolist()
    for row in rows:
        for norm, budgets in (("linf", scoreboard.LINF), ("l2", scoreboard.L2)):
            for eps in budgets:
                for task in (f"course_{norm}_{eps}",) + ((f"autoattack_{norm}_{eps}",) if row["autoattack"] else ()):
                    record = digits.load(row["model"], task)
                    assert record["values"]["index"] == dense, (row["model"], task)
                    assert record["settings"]["n"] == settings["dense"]
        l0 = digits.load(row["model"], "l0")["values"]
        assert l0["index"] == dense[: settings["sparse"]]


def test_certified_digits_are_robust_digit_by_digit(board):
    """No attack fooled a digit within its certificate (L2 at the attacked radius, L0 at its k)."""
    settings, rows = board
    for row in rows:
        cert = digits.load(row["model"], "certificates")["values"]
        right = torch.tensor(cert["correct"]).bool()
        radius = torch.tensor([float(r) for r in cert["radius"]])
        for eps in scoreboard.L2:
            robust = torch.ones_like(right)
            robust &= scoreboard.robust_digits(row["model"], "l2", eps)
            certified = right & (radius >= eps)
            assert not (certified & ~robust).any(), (row["model"], eps)
        if row["model"] in scoreboard.VOTE_MODELS:
            k = torch.tensor(cert["pixels"])[: settings["sparse"]]
            pixels = torch.tensor([float(p) for p in digits.load(row["model"], "l0")["values"]["pixels"]])
            assert not (right[: settings["sparse"]] & (pixels > 0) & (pixels <= k)).any(), row["model"]


def test_committed_clean_accuracy_and_cost_reproduce(board):
    _, rows = board
    x, y = data.load_dataset("mnist", "test", source="bundled")
    for row in rows:
        model = models.load_pretrained(row["model"])
        assert (predict(model, x).argmax(1) == y).float().mean().item() == pytest.approx(row["clean"], abs=1e-4)
        assert models.count_parameters(model) == row["parameters"]


def test_committed_course_attacks_reproduce_within_sampling_noise(board):
    settings, rows = board
    cnn_row = next(r for r in rows if r["model"] == "cnn")
    n = 60
    x, y = scoreboard.sample(settings["dense"], settings["seed"])
    cnn = models.load_pretrained("cnn")
    flags = robustness.robust_flags(cnn, x[:n], y[:n], "l2", 1.58, seed=settings["seed"], square_iterations=300)
    v, p = flags["robust"].float().mean().item(), cnn_row["l2_1.58_course"]
    assert abs(v - p) <= 3 * math.sqrt(max(p * (1 - p), 0.01) / n) + 0.05, (v, p)


def test_write_then_read_round_trip(tmp_path):
    row = {c: 0.5 for c in scoreboard.COLUMNS}
    row.update(model="cnn", parameters=10, macs=20, k_above=math.nan, median_pixels=math.inf)
    scoreboard.write([row], scoreboard.QUICK, tmp_path)
    settings, rows = scoreboard.read(tmp_path / "scoreboard.csv")
    assert settings == asdict(scoreboard.QUICK)
    assert rows[0]["model"] == "cnn" and rows[0]["parameters"] == 10
    assert math.isnan(rows[0]["k_above"]) and math.isinf(rows[0]["median_pixels"])
    assert "| clean | 50.0% (50.0%-50.0%) |" in (tmp_path / "scoreboard.md").read_text()


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


TINY = scoreboard.Settings(dense=12, sparse=6, max_pixels=12, caper=4, square_iterations=40, autoattack=False,
                           checked=14)


def test_a_run_writes_every_task_and_resumes_without_redoing_them(tmp_path):
    rows = scoreboard.scoreboard(["cnn"], TINY, folder=tmp_path)
    row = rows[0]
    assert row["model"] == "cnn" and 0 <= row["linf_0.1"] <= row["linf_0.1_course"] <= 1
    assert math.isnan(row.get("linf_0.1_autoattack", math.nan))  # not run in this setting
    files = sorted((tmp_path / "cnn").glob("*.json"))
    assert {f.stem for f in files} == {"course_linf_0.1", "course_l2_1.58", "l0", "l0_targeted", "certificates",
                                       "summary"}
    stamps = {f.name: f.stat().st_mtime_ns for f in files}
    assert scoreboard.scoreboard(["cnn"], TINY, folder=tmp_path) == rows  # resumed: nothing recomputed
    assert {f.name: f.stat().st_mtime_ns for f in files} == stamps
    other = scoreboard.Settings(**{**asdict(TINY), "square_iterations": 41})
    assert not digits.done("cnn", "course_l2_1.58", {"n": 12}, tmp_path)
    scoreboard.course_task("cnn", "l2", 1.58, other, folder=tmp_path)  # other settings: run again
    assert (tmp_path / "cnn" / "course_l2_1.58.json").stat().st_mtime_ns != stamps["course_l2_1.58.json"]


def test_digit_files_round_trip_inf_and_refuse_other_settings(tmp_path):
    digits.save("cnn", "l0", {"n": 3}, {"pixels": torch.tensor([1.0, math.inf, 0.0])}, folder=tmp_path)
    assert digits.load("cnn", "l0", tmp_path)["values"]["pixels"] == [1.0, math.inf, 0.0]
    assert digits.done("cnn", "l0", {"n": 3}, tmp_path) and not digits.done("cnn", "l0", {"n": 4}, tmp_path)
    with pytest.raises(FileNotFoundError, match="make scoreboard"):
        digits.load("cnn", "l0_targeted", tmp_path)


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="names"):
        scoreboard.scoreboard(["resnet"], TINY)
    with pytest.raises(ValueError, match="test set"):
        scoreboard.Settings(dense=10_001, sparse=10)
    with pytest.raises(ValueError, match="sparse"):
        scoreboard.Settings(dense=10, sparse=20)
    with pytest.raises(ValueError, match="dense"):
        scoreboard.Settings(dense=-5)
    with pytest.raises(ValueError, match="test set"):
        digits.sample_indices(10_001)
    cnn = models.load_pretrained("cnn").eval()
    x, y = scoreboard.sample(4, 0)
    with pytest.raises(ValueError, match="norm"):
        autoattack.autoattack(cnn, x, y, "l1", 0.1)
    with pytest.raises(ValueError, match="eps"):
        autoattack.autoattack(cnn, x, y, "linf", -0.1)
    with pytest.raises(ValueError, match="norm"):
        robustness.robust_flags(cnn, x, y, "l0", 1.0)


def test_autoattack_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, autoattack.PACKAGE, None)  # as if it were not installed
    assert not autoattack.available()
    with pytest.raises(ImportError, match=r"pyautoattack.*smudge-course\[scoreboard\]"):
        autoattack.settings()
    with pytest.raises(ImportError, match="scoreboard"):
        scoreboard.scoreboard(["cnn"], scoreboard.Settings(dense=2, sparse=1))


@pytest.mark.skipif(not autoattack.available(), reason="AutoAttack (the scoreboard extra) is not installed")
def test_autoattack_respects_the_budget_and_breaks_the_cnn_at_a_large_budget():
    cnn = models.load_pretrained("cnn").eval()
    x, y = scoreboard.sample(8, 0)
    adv = autoattack.autoattack(cnn, x, y, "linf", 0.3)
    assert adv.shape == x.shape and adv.min() >= 0 and adv.max() <= 1
    assert (adv - x).abs().amax() <= 0.3 + 1e-6
    still = robustness.attacks.recheck(cnn, x, adv, y, norm="linf", budget=0.3)
    assert still.float().mean() <= 0.25  # Linf 0.3 breaks the undefended CNN on almost every digit
    assert "standard version" in autoattack.settings() and "5000" in autoattack.settings()


def test_softened_vote_is_a_vote_surrogate_only():
    net = models.load_pretrained("two_n").eval()
    x, _ = scoreboard.sample(16, 0)
    with torch.no_grad():
        soft, real = routing.SoftenedVote(net)(x), net(x)
    assert soft.shape == real.shape == (16, 10)
    assert (soft.argmax(1) == real.argmax(1)).float().mean() >= 0.9  # a surrogate that mostly agrees
    with pytest.raises(TypeError, match="vote"):
        routing.SoftenedVote(models.load_pretrained("two_n_linear"))


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


def test_a_fixed_wiring_vote_on_the_board(tmp_path):
    """l0_vote's certificate task, its L0 check at its own k, and its adaptive surrogate."""
    vote = models.load_pretrained("l0_vote")
    x, _ = scoreboard.sample(16, 0)
    with torch.no_grad():
        soft, real = votes.SoftSurrogate(vote)(x), vote(x)
    assert (soft.argmax(1) == real.argmax(1)).float().mean() >= 0.9
    with pytest.raises(TypeError, match="GroupVote"):
        votes.SoftSurrogate(models.load_pretrained("two_n"))
    check = scoreboard.l0_check_task("l0_vote", TINY, folder=tmp_path)["values"]
    n = len(check["certified"])
    assert check["index"] == digits.sample_indices(TINY.sparse + n, TINY.seed)[TINY.sparse:].tolist()  # after the L0 sample
    x, y, _ = digits.sample(TINY.sparse + n, TINY.seed)
    right = predict(vote, x).argmax(1) == y
    k = torch.where(right, votes.certified_pixels(vote, x), 0)
    assert check["certified"] == k[TINY.sparse:].tolist() and check["correct"] == right[TINY.sparse:].int().tolist()
    assert int((k >= 1).sum()) == TINY.checked and k[-1] >= 1  # exactly `checked` distinct certified digits, no more
    for kk, p in zip(check["certified"], check["pixels"]):
        assert (p == -1) == (kk == 0)  # attacked exactly where certified
        assert kk == 0 or p > kk  # and no certified digit fooled within its certificate
    beaten, checked = scoreboard.l0_check_counts(check)
    assert (beaten, checked) == (0, int((k[TINY.sparse:] >= 1).sum()))
    first = next(i for i, kk in enumerate(check["certified"]) if kk >= 1)
    fooled = {**check, "pixels": [check["certified"][i] if i == first else p for i, p in enumerate(check["pixels"])]}
    assert scoreboard.l0_check_counts(fooled)[0] == 1  # a broken proof is counted
    skipped = {**check, "pixels": [-1 if i == first else p for i, p in enumerate(check["pixels"])]}
    with pytest.raises(ValueError, match="not attacked"):
        scoreboard.l0_check_counts(skipped)
    assert scoreboard.tasks("l0_vote", TINY)[-1][0] is scoreboard.l0_check_task


def test_a_check_scans_the_shuffle_to_the_last_certified_digit_it_needs():
    """_scan_certified stops at the first position where every budget has its certified
    digits, and runs to the end of the test set where they are not there."""
    cnn = models.load_pretrained("cnn").eval()
    two = lambda x, correct: torch.stack([correct, correct & (x.sum((1, 2, 3)) > 100)], 1)  # noqa: E731
    x, y, idx, correct, on = scoreboard._scan_certified(30, [40, 7], two, cnn, 0)
    assert idx.tolist() == digits.sample_indices(30 + len(idx), 0)[30:].tolist()
    assert torch.equal(correct, predict(cnn, x).argmax(1) == y) and torch.equal(on, two(x, correct))
    counts = on.sum(0)
    assert (counts >= torch.tensor([40, 7])).all()
    assert (on[:-1].sum(0) < torch.tensor([40, 7])).any()  # one digit fewer would not do
    assert len(scoreboard._scan_certified(30, [0], two, cnn, 0)[0]) == 0
    none = lambda x, correct: torch.zeros(len(x), 1, dtype=torch.bool)  # noqa: E731
    assert len(scoreboard._scan_certified(9_000, [1], none, cnn, 0)[0]) == 1_000  # never enough: to the end


def test_the_lipschitz_certificate_is_attacked_beyond_the_board_sample(tmp_path, monkeypatch):
    """l2_check_task attacks exactly the certified digits after the dense sample; its counts
    report a fooled certified digit as beaten and refuse a certified digit left unattacked."""
    committed = digits.load("lipschitz_cnn", "certificates")["values"]["k_above"]  # the proven bound, as committed
    monkeypatch.setattr(scoreboard, "_upper_bound", lambda model: committed)
    check = scoreboard.l2_check_task("lipschitz_cnn", TINY, folder=tmp_path)["values"]
    n = TINY.dense + len(check["index"])
    x, y, idx = digits.sample(n, TINY.seed)
    assert check["index"] == idx[TINY.dense:].tolist()
    model = models.load_pretrained("lipschitz_cnn").eval()
    right_all = predict(model, x).argmax(1) == y
    radius_all = certainty.certified_radius(model, x, committed)
    for eps in scoreboard.L2:  # exactly `checked` distinct certified digits with the dense sample's, no more
        on = right_all & (radius_all >= eps)
        assert int(on.sum()) == TINY.checked and on[-1], eps
    right, radius = right_all[TINY.dense:], radius_all[TINY.dense:]
    for eps in scoreboard.L2:
        certified = torch.tensor(check[f"certified_{eps}"]).bool()
        robust = torch.tensor(check[f"robust_{eps}"])
        assert certified.tolist() == (right & (radius >= eps)).tolist()
        assert certified.any() and (~certified).any()  # the sample has both kinds
        assert ((robust == -1) == ~certified).all()  # attacked exactly where certified
        assert (robust[certified] == 1).all()  # and no certificate beaten
    assert scoreboard.l2_check_counts(check) == (0, int(sum(check[f"certified_{scoreboard.L2[0]}"])))
    eps = scoreboard.L2[0]
    first = check[f"certified_{eps}"].index(1)
    fooled = {**check, f"robust_{eps}": [0 if i == first else r for i, r in enumerate(check[f"robust_{eps}"])]}
    assert scoreboard.l2_check_counts(fooled)[0] == 1  # a broken proof is counted
    skipped = {**check, f"robust_{eps}": [-1 if i == first else r for i, r in enumerate(check[f"robust_{eps}"])]}
    with pytest.raises(ValueError, match="not attacked"):
        scoreboard.l2_check_counts(skipped)
    assert scoreboard.tasks("lipschitz_cnn", TINY)[-1][0] is scoreboard.l2_check_task
    monkeypatch.undo()  # the committed board's check reads the bound its certificate task stored
    assert scoreboard._board_bound("lipschitz_cnn", model, scoreboard.DEFAULT, None) == committed


@pytest.mark.skipif(not autoattack.available(), reason="AutoAttack (the scoreboard extra) is not installed")
def test_every_committed_file_was_made_with_the_board_settings(board, tmp_path):
    """A board assembled from per-digit files must not misstate its header: --assemble refuses stale files."""
    for name in scoreboard.MODELS:
        assert scoreboard.stale_tasks(name) == [], name
    config = scoreboard.task_config(scoreboard.course_task, ("cnn", "linf", 0.1), scoreboard.DEFAULT)
    digits.save("cnn", "course_linf_0.1", {**config, "attack": config["attack"].replace("5000", "1000")},
                {"robust": torch.ones(3)}, folder=tmp_path)
    assert scoreboard.stale_tasks("cnn", scoreboard.DEFAULT, tmp_path) == ["course_linf_0.1"]
    digits.save("cnn", "course_linf_0.1", config, {"robust": torch.ones(3)}, folder=tmp_path)
    assert scoreboard.stale_tasks("cnn", scoreboard.DEFAULT, tmp_path) == []
    # made from other weights (a retrained cnn): stale too, though every attack setting matches
    other = {**config, "checkpoint": "0" * 64}
    digits.save("cnn", "course_linf_0.1", other, {"robust": torch.ones(3)}, folder=tmp_path)
    assert scoreboard.stale_tasks("cnn", scoreboard.DEFAULT, tmp_path) == ["course_linf_0.1"]


def test_every_task_is_keyed_by_the_checkpoint_it_scored(tmp_path):
    """Each task's settings carry the sha256 of its model's checkpoint, the manifest's own entry."""
    manifest = integrity.read_manifest()
    for name in ("cnn", "two_n", "l0_vote"):
        sha = manifest[models.REGISTRY[name].file]
        for function, args in scoreboard.tasks(name, scoreboard.DEFAULT):
            assert scoreboard.task_config(function, args, scoreboard.DEFAULT)["checkpoint"] == sha
    assert models.checkpoint_sha256("cnn") != models.checkpoint_sha256("cnn_noise")
    (tmp_path / integrity.MANIFEST).write_text(f"{'0' * 64}  checkpoints/other.pt\n")
    with pytest.raises(FileNotFoundError, match="not in the manifest"):
        models.checkpoint_sha256("cnn", folder=tmp_path)


def test_tasks_run_longest_first_by_the_committed_times(monkeypatch):
    todo = [task for name in scoreboard.MODELS for task in scoreboard.tasks(name)]
    ordered = scoreboard.longest_first(todo)
    assert Counter(ordered) == Counter(todo)  # the same tasks, each once
    seconds = [digits.load(a[0], scoreboard._task_name(f, a))["seconds"] for f, a in ordered]
    assert seconds == sorted(seconds, reverse=True) and seconds[0] > 10 * seconds[-1]
    assert ordered[0] == max(todo, key=lambda t: digits.load(t[1][0], scoreboard._task_name(*t))["seconds"])
    load = digits.load

    def without_summaries(model, task, folder=None):  # a task the committed board never ran
        if task == "summary":
            raise FileNotFoundError(task)
        return load(model, task, folder)

    monkeypatch.setattr(digits, "load", without_summaries)
    ordered = scoreboard.longest_first(todo)
    assert {f for f, _ in ordered[:len(scoreboard.MODELS)]} == {scoreboard.summary_task}  # unknown: first
