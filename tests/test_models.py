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
    assert len(x) == 2000
    acc = accuracy(cnn, x, y)
    assert acc >= 0.98, f"baseline CNN accuracy {acc:.4f} on the bundled test split"


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
