"""helpers.models: the bundled CNN, sha256-checked loading, saving."""
from __future__ import annotations

import hashlib
import json

import pytest
import torch

import helpers.models as models
from helpers.models import ABSENT_LOGIT, BaselineCNN, load_pretrained
from helpers.integrity import ChecksumError, data_dir, read_manifest
from helpers.train import accuracy

CHECKPOINT = "checkpoints/cnn.pt"


@pytest.fixture
def load_calls(monkeypatch):
    """Record every torch.load call (then do the real load)."""
    calls = []
    real_load = torch.load

    def recorder(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recorder)
    return calls


def test_load_pretrained_is_eval_mode_and_maps_to_logits(cnn, test_split):
    assert isinstance(cnn, models.BaselineCNN)
    assert not cnn.training
    assert not any(m.training for m in cnn.modules())
    x = test_split[0][:5]
    with torch.no_grad():
        out = cnn(x)
    assert out.shape == (5, 10)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    # eval mode: dropout is off, so the output is deterministic
    with torch.no_grad():
        assert torch.equal(cnn(x), out)


def test_accuracy_on_bundled_test_split(cnn, test_split):
    x, y = test_split
    assert len(x) == 10000
    acc = accuracy(cnn, x, y)
    assert acc >= 0.993, f"baseline CNN accuracy {acc:.4f} on the 10,000 test digits"


def test_unknown_model_name_lists_available():
    with pytest.raises(ValueError, match=r"^name='resnet'.*'cnn'"):
        models.load_pretrained("resnet")


def test_load_uses_weights_only(load_calls):
    models.load_pretrained("cnn")
    assert len(load_calls) == 1
    assert load_calls[0].get("weights_only") is True


def test_checkpoint_loads_with_weights_only():
    state = torch.load(data_dir() / CHECKPOINT, map_location="cpu", weights_only=True)
    expected = models.BaselineCNN().state_dict()
    assert set(state) == set(expected)
    for key, value in expected.items():
        assert isinstance(state[key], torch.Tensor)
        assert state[key].shape == value.shape


def test_checkpoint_is_small():
    size = (data_dir() / CHECKPOINT).stat().st_size
    assert 0 < size < 5 * 1024 * 1024


def test_checkpoint_matches_manifest():
    blob = (data_dir() / CHECKPOINT).read_bytes()
    assert read_manifest()[CHECKPOINT] == hashlib.sha256(blob).hexdigest()


@pytest.fixture
def checkpoint_copy(tmp_path):
    """tmp/ with a copy of SHA256SUMS and checkpoints/cnn.pt."""
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / CHECKPOINT).write_bytes((data_dir() / CHECKPOINT).read_bytes())
    (tmp_path / "SHA256SUMS").write_bytes((data_dir() / "SHA256SUMS").read_bytes())
    return tmp_path


def test_intact_copy_loads(checkpoint_copy, cnn, load_calls):
    model = models.load_pretrained("cnn", folder=checkpoint_copy)
    assert len(load_calls) == 1
    for key, value in cnn.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_flipped_byte_raises_before_unpickling(where, checkpoint_copy, flip_byte, load_calls):
    path = checkpoint_copy / CHECKPOINT
    flip_byte(path, {"start": 0, "middle": None, "end": path.stat().st_size - 1}[where])
    with pytest.raises(ChecksumError, match=r"cnn\.pt") as info:
        models.load_pretrained("cnn", folder=checkpoint_copy)
    assert isinstance(info.value, ValueError)
    assert load_calls == [], "torch.load was called on a checkpoint whose sha256 does not match"


def test_missing_manifest_entry_raises(checkpoint_copy, load_calls):
    manifest = checkpoint_copy / "SHA256SUMS"
    lines = [line for line in manifest.read_text().splitlines() if not line.endswith(CHECKPOINT)]
    manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(FileNotFoundError, match=r"checkpoints/cnn\.pt"):
        models.load_pretrained("cnn", folder=checkpoint_copy)
    assert load_calls == []


def test_missing_checkpoint_file_raises(checkpoint_copy):
    (checkpoint_copy / CHECKPOINT).unlink()
    with pytest.raises(FileNotFoundError):
        models.load_pretrained("cnn", folder=checkpoint_copy)


def test_save_then_load_round_trip(tmp_path):
    bundled_manifest = (data_dir() / "SHA256SUMS").read_bytes()
    torch.manual_seed(123)
    model = models.BaselineCNN()
    info = {"epochs": 1, "note": "round trip"}
    digest = models.save_pretrained("cnn", model, info, folder=tmp_path)

    path = tmp_path / CHECKPOINT
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = read_manifest(tmp_path)
    assert manifest[CHECKPOINT] == digest
    meta = tmp_path / "checkpoints" / "cnn.json"
    assert manifest["checkpoints/cnn.json"] == hashlib.sha256(meta.read_bytes()).hexdigest()
    assert json.loads(meta.read_text()) == info
    assert models.training_info("cnn", folder=tmp_path) == info

    loaded = models.load_pretrained("cnn", folder=tmp_path)
    assert not loaded.training
    state = loaded.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value)
    assert (data_dir() / "SHA256SUMS").read_bytes() == bundled_manifest  # bundled data untouched


def test_save_unknown_name_raises(tmp_path):
    with pytest.raises(ValueError, match="name="):
        models.save_pretrained("mlp", models.BaselineCNN(), folder=tmp_path)
    assert not any(tmp_path.iterdir())


def test_bundled_training_info():
    info = models.training_info("cnn")
    assert info["test_accuracy"] >= 0.98
    assert info["parameters"] == models.count_parameters(models.BaselineCNN())


@pytest.mark.parametrize("m", [2, 5, 9])
def test_m_class_models_only_predict_their_classes(m, test_split):
    x, y = test_split
    model = load_pretrained(f"cnn_m{m}")
    logits = model(x[:500])
    assert logits.shape == (500, 10)
    assert (logits[:, m:] == ABSENT_LOGIT).all(), "absent classes must get the constant logit"
    assert logits.argmax(1).max() < m
    mine = y < m
    assert accuracy(model, x[mine], y[mine]) >= 0.98


def test_classes_out_of_range_is_refused():
    with pytest.raises(ValueError, match="classes"):
        BaselineCNN(classes=1)
    with pytest.raises(ValueError, match="classes"):
        BaselineCNN(classes=11)


def test_compact_checkpoint_round_trip_is_exact(tmp_path):
    """Routing checkpoints store 8-bit rows (with a power-of-two scale each) for the routed
    weights, float16 for the rest and int16 wiring; loading gives back the very same
    (quantized) model, wiring included."""
    from helpers import routing

    torch.manual_seed(0)
    net = models.REGISTRY["layered"].build()
    models.quantize_(net)
    models.save_pretrained("layered", net, folder=tmp_path)
    state = torch.load(tmp_path / "checkpoints" / "layered.pt", weights_only=True)
    assert {v.dtype for v in state.values()} == {torch.float16, torch.int16, torch.int8}
    assert state["layers.0.weight1#q"].abs().max() <= 127
    loaded = models.load_pretrained("layered", folder=tmp_path)
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert loaded.state_dict()["layers.0.wiring"].dtype == torch.long
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(loaded(x), net(x))
    assert isinstance(loaded, routing.LayeredRoutingNet)


def test_compact_checkpoint_refuses_weights_that_would_be_rounded(tmp_path):
    net = models.REGISTRY["layered"].build()  # float32 init weights: not 8-bit exact
    with pytest.raises(ValueError, match="quantize_"):
        models.save_pretrained("layered", net, folder=tmp_path)


def test_quantize_changes_each_weight_by_at_most_half_a_step():
    net = models.REGISTRY["two_n"].build()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    models.quantize_(net)
    for key, value in net.state_dict().items():
        if key.endswith(("weight1", "weight2")):
            step = 2 ** torch.ceil(torch.log2(before[key].abs().amax(-1, keepdim=True) / 127))
            assert ((value - before[key]).abs() <= step / 2).all(), key
        elif value.is_floating_point():
            assert torch.equal(value, before[key].half().float()), key


@pytest.mark.parametrize("name, floor", [("two_n", 0.96), ("layered", 0.96), ("two_n_linear", 0.98),
                                         ("layered_linear", 0.98)])
def test_routing_checkpoints(name, floor, test_split):
    """Every routing model maps [B,1,28,28] to [B,10], reads the digits, and keeps the wiring
    it was trained with (the same as its builder's)."""
    x, y = test_split
    model = load_pretrained(name)
    out = model(x[:7])
    assert out.shape == (7, 10)
    if model.readout == "vote":  # log of mean probabilities: a distribution
        torch.testing.assert_close(out.exp().sum(1), torch.ones(7))
    assert accuracy(model, x, y) >= floor
    fresh = models.REGISTRY[name].build()
    for a, b in zip(model.wirings(), fresh.wirings()):
        assert torch.equal(a, b)
    assert models.training_info(name)["train_seconds"] <= 3600  # one hour at one thread, on the 60,000 digits
