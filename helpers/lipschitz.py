"""A Lipschitz-constrained CNN: every layer's operator norm held at 1 while it trains.

Notebook 06. Each convolution and linear layer gets a parametrisation
(``torch.nn.utils.parametrize``, the mechanism behind
``torch.nn.utils.parametrizations.spectral_norm``) that divides its weight by its
operator norm, estimated by one step of power iteration per training step on the
layer *as the linear map it is* (for a convolution: on whole feature maps, not on the
kernel reshaped into a matrix, which can be off by a factor of up to the kernel size).
Activations are MaxMin (1-Lipschitz, gradient-norm preserving). The product of the
layer norms is then about 1, and ``helpers.certainty.lipschitz_upper_bound`` proves an upper
bound on it independently, on the trained weights (float64 Gram matrices, a rounding margin).

After training, ``freeze`` replaces each parametrised weight by its current value, so
the saved checkpoint holds plain weights; ``load_pretrained("lipschitz_cnn")`` builds the
unconstrained shell and loads them. Nothing happens on import.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize

from .certainty import MaxMin, linear_map

__all__ = ["OperatorNormalized", "Orthonormalized", "LipschitzCNN", "margin_loss"]


class OperatorNormalized(nn.Module):
    """A weight parametrisation: ``weight / |A|``, with |A| the operator norm of the layer's
    linear map on inputs of ``input_shape``, tracked by power iteration. Notebook 06.

    In training mode each call takes one power-iteration step on a persistent vector
    (as ``spectral_norm`` does for matrices); the norm is then computed from that vector
    with gradients, so training sees the constraint.
    """

    def __init__(self, layer: nn.Module, input_shape: Sequence[int], seed: int = 0) -> None:
        super().__init__()
        self.layer = [layer]  # a list, so the layer is not registered as its own sub-module
        self.shape = torch.Size([1, *input_shape])
        u = torch.randn(self.shape, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("u", u / u.norm())

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        forward, adjoint = linear_map(self.layer[0], weight)
        if self.training:
            with torch.no_grad():  # one power-iteration step per training call
                u = adjoint(forward(self.u), self.shape)
                self.u.copy_(u / u.norm().clamp_min(1e-12))
        sigma = forward(self.u).norm()
        return weight / sigma


class Orthonormalized(nn.Module):
    """A weight parametrisation for linear layers: the nearest (semi-)orthogonal matrix, by
    Bjorck iteration (W <- 1.5 W - 0.5 W W^T W, from W scaled to Frobenius norm 1). Notebook 06.

    All singular values are pushed to 1, so the layer keeps the norm of every gradient it
    passes back (Anil et al. 2019); a spectral-norm layer only caps the largest one.
    """

    def __init__(self, iterations: int = 20) -> None:
        super().__init__()
        self.iterations = iterations

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        wide = weight.shape[0] <= weight.shape[1]
        w = weight if wide else weight.T
        w = w / w.norm().clamp_min(1e-12)
        for _ in range(self.iterations):
            w = 1.5 * w - 0.5 * (w @ w.T) @ w
        return w if wide else w.T


class LipschitzCNN(nn.Module):
    """Three convolutions and two linear layers, MaxMin activations, no pooling, no bias
    tricks: a CNN whose L2 Lipschitz constant is about 1 by construction. Notebook 06.

    Maps ``[B,1,28,28]`` in [0,1] to class logits ``[B,10]``. ``constrained=True`` (for
    training) registers ``OperatorNormalized`` on every weight; ``constrained=False`` is
    the plain shell a frozen checkpoint loads into.
    """

    def __init__(self, width: int = 16, hidden: int = 128, constrained: bool = False, orthogonal_linear: bool = True) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), MaxMin(),                      # 28 x 28
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), MaxMin(),    # 14 x 14
            nn.Conv2d(2 * width, 4 * width, 4, stride=2, padding=1), MaxMin(),  # 7 x 7
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(4 * width * 7 * 7, hidden), MaxMin(), nn.Linear(hidden, 10),
        )
        if constrained:
            shapes: dict[nn.Module, torch.Size] = {}

            def note(mod: nn.Module, inp: tuple, out: torch.Tensor) -> None:
                shapes[mod] = inp[0].shape[1:]

            hooks = [m.register_forward_hook(note) for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
            with torch.no_grad():
                self(torch.zeros(1, 1, 28, 28))
            for h in hooks:
                h.remove()
            for i, (layer, shape) in enumerate(shapes.items()):
                if isinstance(layer, nn.Linear) and orthogonal_linear:
                    parametrize.register_parametrization(layer, "weight", Orthonormalized())
                else:
                    parametrize.register_parametrization(layer, "weight", OperatorNormalized(layer, shape, seed=i))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def freeze(self) -> "LipschitzCNN":
        """Replace every parametrised weight by its current value (plain layers from now on)."""
        for layer in list(self.modules()):
            if parametrize.is_parametrized(layer, "weight"):
                parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
        return self


def margin_loss(logits: torch.Tensor, y: torch.Tensor, *, margin: float, temperature: float) -> torch.Tensor:
    """Cross-entropy after lowering the true logit by ``margin``: the loss keeps pushing until
    the true class leads every other by about ``margin``, which certifies an L2 radius of
    ``margin / (sqrt(2) L)`` on a model with Lipschitz bound L. ``temperature`` scales the
    logits first (a larger one is closer to a hinge loss). Notebook 06.
    """
    shifted = logits - margin * nn.functional.one_hot(y, logits.shape[1]).to(logits)
    return nn.functional.cross_entropy(shifted * temperature, y) / temperature
