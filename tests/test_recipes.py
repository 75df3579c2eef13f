"""helpers.recipes: the device option, and the cnn_noise control's recipe (on a few digits)."""
from __future__ import annotations

import pytest
import torch

from helpers import models, recipes
from helpers.data import salt_and_pepper
from helpers.env import resolve_device


@pytest.mark.parametrize("device", ["tpu", "mps:0", "cuda:x"])
def test_unknown_device_is_refused(device):
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
        resolve_device(device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        recipes.main(["cnn", "--device", "cuda"])  # refused before anything is trained


def test_cpu_is_the_default():
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_every_recipe_has_a_registry_entry_and_back():
    assert set(recipes.RECIPES) == set(models.REGISTRY)
    assert "cnn_noise" in recipes.RECIPES


@pytest.fixture
def few_digits(monkeypatch, test_split):
    """The recipes' data replaced by 256 training and 128 test digits, so a recipe runs in seconds."""
    x, y = test_split
    monkeypatch.setattr(recipes, "_data", lambda: (x[:256], y[:256], x[256:384], y[256:384]))
    return x, y


def test_cnn_noise_trains_with_exactly_the_routing_nets_noise(few_digits, monkeypatch):
    seen = {}
    real_fit = recipes.fit

    def spy(model, x, y, **kwargs):
        seen["augment"] = kwargs["augment"]
        return real_fit(model, x, y, **kwargs)

    monkeypatch.setattr(recipes, "fit", spy)
    model, info = recipes.RECIPES["cnn_noise"](epochs=1, progress=False, device="cpu")
    augment = seen["augment"]
    assert augment.func is salt_and_pepper and augment.keywords == {"rate": 0.05}
    assert info["noise"] == 0.05 and info["train_images"] == 256 and info["epochs"] == 1
    assert next(model.parameters()).device.type == "cpu"
    # the routing nets' recipe draws the very same noise by default
    import inspect

    assert inspect.signature(recipes.train_routing).parameters["noise"].default == augment.keywords["rate"]
    # and the plain baseline keeps its affine augmentation
    recipes.RECIPES["cnn"](epochs=1, progress=False)
    assert seen["augment"] is recipes.random_affine


def test_on_device_gives_the_same_logits_and_gradients_and_leaves_the_model_alone(test_split):
    cnn = models.load_pretrained("cnn")
    wrapped = models.OnDevice(cnn, "cpu")
    x = test_split[0][:16].clone().requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    out, out2 = cnn(x), wrapped(x2)
    assert torch.equal(out, out2) and out2.device == x.device
    out[:, 3].sum().backward()
    out2[:, 3].sum().backward()
    assert torch.equal(x.grad, x2.grad)
    assert wrapped.model is not cnn  # a copy: moving it never moves the caller's model


def test_scoreboard_refuses_an_unknown_device_before_running():
    from helpers import scoreboard

    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
        scoreboard.main(["--quick", "--device", "tpu"])


def _flushing() -> bool:
    """Whether the CPU rounds subnormal floats to zero right now (1e-41 is subnormal)."""
    return (torch.tensor([1e-38]) * 1e-3).item() == 0.0


@pytest.mark.parametrize("name, flushed", [("two_n_linear", True), ("layered_linear", False), ("two_n", False)])
def test_only_two_n_linear_trains_with_subnormals_flushed(few_digits, monkeypatch, name, flushed):
    seen = {}
    real_fit = recipes.fit

    def spy(model, x, y, **kwargs):
        seen["flushing"] = _flushing()
        return real_fit(model, x, y, **kwargs)

    monkeypatch.setattr(recipes, "fit", spy)
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush subnormals")
    _, info = recipes.RECIPES[name](epochs=1, progress=False)
    assert seen["flushing"] is flushed and info["flush_subnormals"] is flushed
    assert not _flushing()  # the recipe leaves torch's default behind it
