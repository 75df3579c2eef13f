"""helpers.train: fit, seeding, input checks, predict/accuracy; and helpers.models.train_or_load (cached training)."""
from __future__ import annotations

import hashlib
import json

import pytest
import torch
from torch import nn

import helpers.train as train
from helpers.data import load_dataset
from helpers.integrity import data_dir, read_manifest
from helpers.models import BaselineCNN, train_or_load


@pytest.fixture(scope="module")
def small_train():
    x, y = load_dataset("mnist", "train", source="bundled", verbose=False)
    return x[:256].clone(), y[:256].clone()


def mean_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return nn.functional.cross_entropy(model(x), y).item()


def fitted(x, y, seed: int) -> nn.Module:
    train.seed_everything(seed)
    model = BaselineCNN()
    train.fit(model, x, y, epochs=1, batch_size=32, lr=3e-3, seed=seed, progress=False)
    return model


def test_fit_lowers_the_loss(small_train):
    x, y = small_train
    train.seed_everything(0)
    model = BaselineCNN()
    before = mean_loss(model, x, y)
    losses = train.fit(model, x, y, epochs=1, batch_size=16, lr=3e-3, seed=0, progress=False)
    after = mean_loss(model, x, y)
    assert len(losses) == 1 and 0 < losses[0] < 10
    assert not model.training  # fit leaves the model in eval mode
    assert after < before - 0.05, f"loss {before:.4f} -> {after:.4f}"


def test_same_seed_reproduces_weights(small_train):
    x, y = small_train[0][:128], small_train[1][:128]
    a, b = fitted(x, y, seed=1), fitted(x, y, seed=1)
    c = fitted(x, y, seed=2)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert not all(torch.equal(v, c.state_dict()[k]) for k, v in a.state_dict().items())


def test_seed_everything_returns_seeded_generator():
    g1, g2 = train.seed_everything(5), train.seed_everything(5)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))
    train.seed_everything(5)
    first = torch.rand(3)
    train.seed_everything(5)
    assert torch.equal(torch.rand(3), first)


@pytest.mark.parametrize(
    "change, error, match",
    [
        (lambda x, y: (x * 2, y), ValueError, r"x must have values in \[0, 1\]"),
        (lambda x, y: (x - 0.5, y), ValueError, r"x must have values in \[0, 1\]"),
        (lambda x, y: (x.view(len(x), 784), y), ValueError, r"x must have shape"),
        (lambda x, y: (x[:, :, :14], y), ValueError, r"x must have shape"),
        (lambda x, y: ((x * 255).to(torch.uint8), y), TypeError, r"x must be a floating-point"),
        (lambda x, y: (x, y.to(torch.int32)), TypeError, r"y must be a torch.long"),
        (lambda x, y: (x, y.float()), TypeError, r"y must be a torch.long"),
        (lambda x, y: (x, y[:-1]), ValueError, r"y must have shape"),
        (lambda x, y: (x, y + 10), ValueError, r"y must hold class indices"),
    ],
)
def test_fit_rejects_bad_input(small_train, change, error, match):
    x, y = change(*small_train)
    model = BaselineCNN()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(error, match=match):
        train.fit(model, x, y, epochs=1, progress=False)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # nothing trained


@pytest.mark.parametrize("kwargs, match", [({"epochs": 0}, "epochs"), ({"epochs": -1}, "epochs"), ({"batch_size": 0}, "batch_size")])
def test_fit_rejects_bad_settings(small_train, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train.fit(BaselineCNN(), *small_train, progress=False, **kwargs)


def test_fit_rejects_negative_lr(small_train):
    with pytest.raises(ValueError, match="lr"):
        train.fit(BaselineCNN(), *small_train, epochs=1, lr=-1.0, progress=False)


def test_predict_and_accuracy_agree_with_manual_argmax(cnn, test_split):
    x, y = test_split[0][:300], test_split[1][:300]
    with torch.no_grad():
        manual = cnn(x)
    logits = train.predict(cnn, x, batch_size=64)  # several batches, last one partial
    assert logits.shape == (300, 10)
    assert torch.allclose(logits, manual, atol=1e-5)
    assert torch.equal(logits.argmax(1), manual.argmax(1))
    # labels that are half wrong: accuracy must follow the manual count, not just be high
    y_half = y.clone()
    y_half[::2] = (y_half[::2] + 1) % 10
    expected = (manual.argmax(1) == y_half).float().mean().item()
    assert train.accuracy(cnn, x, y_half) == pytest.approx(expected)
    assert 0.3 < expected < 0.7
    assert train.accuracy(cnn, x, y) == pytest.approx((manual.argmax(1) == y).float().mean().item())


def test_predict_rejects_bad_images(cnn):
    with pytest.raises(ValueError, match="x must"):
        train.predict(cnn, torch.full((2, 1, 28, 28), 2.0))


def test_train_or_load_without_retrain_loads_checkpoint(cnn):
    calls = []

    def never(*args):
        calls.append(args)
        raise AssertionError("train() must not run when retrain=False")

    model = train_or_load("cnn", never)
    assert calls == []
    assert not model.training
    for key, value in cnn.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)


def fake_trainer(calls: list):
    def train_fn():
        calls.append(1)
        torch.manual_seed(99)
        model = BaselineCNN()
        model.train()
        return model, {"epochs": 0, "note": "fake"}

    return train_fn


def test_train_or_load_retrain_save(tmp_path):
    bundled_manifest = (data_dir() / "SHA256SUMS").read_bytes()
    calls = []
    model = train_or_load("cnn", fake_trainer(calls), retrain=True, save=True, folder=tmp_path)
    assert calls == [1]
    assert isinstance(model, BaselineCNN) and not model.training

    checkpoint = tmp_path / "checkpoints" / "cnn.pt"
    meta = tmp_path / "checkpoints" / "cnn.json"
    manifest = read_manifest(tmp_path)
    assert manifest["checkpoints/cnn.pt"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert manifest["checkpoints/cnn.json"] == hashlib.sha256(meta.read_bytes()).hexdigest()
    info = json.loads(meta.read_text())
    assert info["epochs"] == 0 and info["note"] == "fake"
    assert isinstance(info["train_seconds"], (int, float)) and 0 <= info["train_seconds"] < 60

    reloaded = train_or_load("cnn", fake_trainer(calls), folder=tmp_path)
    assert calls == [1]  # loading does not train
    for key, value in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[key], value)
    assert (data_dir() / "SHA256SUMS").read_bytes() == bundled_manifest  # bundled data untouched


def test_train_or_load_retrain_without_save_writes_nothing(tmp_path):
    calls = []
    model = train_or_load("cnn", fake_trainer(calls), retrain=True, folder=tmp_path)
    assert calls == [1]
    assert not model.training
    assert list(tmp_path.iterdir()) == []


def test_subnormals_flushed_rounds_them_to_zero_inside_and_restores_the_default_after_an_error():
    tiny = torch.tensor([1e-38])
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush subnormals")
    assert (tiny * 1e-3).item() != 0.0  # 1e-41: a subnormal float32, kept by default
    with pytest.raises(RuntimeError, match="inside"):
        with train.subnormals_flushed():
            assert (tiny * 1e-3).item() == 0.0
            raise RuntimeError("an error inside the block")
    assert (tiny * 1e-3).item() != 0.0
