"""A Lipschitz-constrained CNN: every layer's operator norm held at most 1 while it trains.

Notebook 06. Each convolution and linear layer gets a parametrisation
(``torch.nn.utils.parametrize``, the mechanism behind
``torch.nn.utils.parametrizations.spectral_norm``) that maps its free weight to one whose
layer has operator norm at most 1:

- ``AOLRescaled`` (Prach and Lampert 2022, "almost orthogonal layers") on the 3 x 3
  convolutions: each input channel scaled by one over the square root of its row sum in
  the absolute Gram matrix of the kernel, which bounds the norm by 1 with no iteration;
- ``Orthonormalized`` (Bjorck iteration) on the linear layers and on the 2 x 2 stride-2
  convolutions, whose patches do not overlap, so that the layer's norm is exactly the norm of
  the kernel reshaped into a matrix: all singular values pushed to 1;
- ``OperatorNormalized`` (weight divided by its power-iterated operator norm): the
  constraint the course's first Lipschitz CNN put on its convolutions, which holds only the
  largest singular value at 1 (``recipes.train_lipschitz_cnn`` records what it reached).

Activations are MaxMin (1-Lipschitz, gradient-norm preserving). The product of the
layer norms is then about 1, and ``helpers.certainty.lipschitz_upper_bound`` proves an upper
bound on it independently, on the trained weights (float64 Gram matrices, a rounding margin):
the parametrisations only steer training; the certificate never trusts them.

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

__all__ = ["OperatorNormalized", "Orthonormalized", "AOLRescaled", "LipschitzCNN", "margin_loss"]


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
    """A weight parametrisation: the nearest (semi-)orthogonal matrix, by Bjorck iteration
    (W <- 1.5 W - 0.5 W W^T W). Notebook 06.

    The start is W divided by the square root of the largest absolute row sum of W W^T,
    which bounds its largest singular value by 1 (Gershgorin), so the iteration converges;
    ``iterations`` steps then push every singular value towards 1, so the layer keeps the
    norm of every gradient it passes back (Anil et al. 2019); a spectral-norm layer only
    caps the largest one. A convolution's kernel ``[out, in, k, k]`` is orthonormalised as
    the matrix ``[out, in k k]``: that matrix's norm is the layer's only when the patches do
    not overlap (stride = kernel size, no padding), the only convolutions ``LipschitzCNN``
    gives it; ``certainty.operator_norm_bound`` checks every layer afterwards either way.
    """

    def __init__(self, iterations: int = 12) -> None:
        super().__init__()
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        self.iterations = iterations

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        shape = weight.shape
        w = weight.reshape(shape[0], -1)
        wide = w.shape[0] <= w.shape[1]
        w = w if wide else w.T
        w = w / (w @ w.T).abs().sum(1).max().clamp_min(1e-12).sqrt()
        for _ in range(self.iterations):
            w = 1.5 * w - 0.5 * (w @ w.T) @ w
        return (w if wide else w.T).reshape(shape)


class AOLRescaled(nn.Module):
    """A weight parametrisation for stride-1 convolutions: AOL rescaling (Prach and Lampert
    2022). Notebook 06.

    With P the absolute cross-correlation of the kernel with itself (``[in, in, 2k-1, 2k-1]``,
    every pair of input channels at every relative offset: the entries of the layer's Gram
    matrix A^T A), input channel j is divided by sqrt(d_j), d_j the sum of row j of P. With
    D = diag(d), the rescaled map A D^-1/2 has norm at most 1 (Prach and Lampert's Theorem 1,
    a Schur-test argument) for the convolution on the whole plane, hence also with zero
    padding, which only restricts it. One convolution of the kernel with itself per step: no
    iteration, cheap. (Float rounding can put the result a few 1e-6 above 1: the certificate
    uses the proven bound of the trained weights, never this construction.)
    """

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        kernel = weight.transpose(0, 1)  # [in, out, k, k]: every input channel's filters
        gram = nn.functional.conv2d(kernel, kernel, padding=weight.shape[-1] - 1)
        rows = gram.abs().sum(dim=(1, 2, 3)).clamp_min(1e-12)
        return weight / rows.sqrt().view(1, -1, 1, 1)


class _TrainingMaxMin(nn.Module):
    """MaxMin as (b + relu(a - b), a - relu(a - b)): the same function up to float rounding,
    with a cheaper backward; used while training only (``freeze`` puts ``MaxMin`` back)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        r = torch.relu(a - b)
        return torch.cat([b + r, a - r], dim=1)


class LipschitzCNN(nn.Module):
    """Four convolutions and two linear layers, MaxMin activations, no pooling: a CNN whose
    L2 Lipschitz constant is at most about 1 by construction. Notebook 06.

    28 x 28: a 3 x 3 convolution (``width`` channels); down to 14 x 14 by a 2 x 2 stride-2
    convolution (2 ``width``); a 3 x 3 convolution (2 ``width``); down to 7 x 7 by a 2 x 2
    stride-2 convolution (4 ``width``); a linear layer of ``hidden`` units, then the 10 logits.
    Maps ``[B,1,28,28]`` in [0,1] to class logits ``[B,10]``. ``constrained=True`` (for
    training) registers ``AOLRescaled`` on the 3 x 3 convolutions and ``Orthonormalized``
    on the others (6 Bjorck steps on the wide first linear layer, 12 elsewhere) and computes
    MaxMin the cheaper way; ``constrained=False`` is the plain shell a frozen checkpoint
    loads into.
    """

    def __init__(self, width: int = 16, hidden: int = 128, constrained: bool = False) -> None:
        super().__init__()
        act = _TrainingMaxMin if constrained else MaxMin
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), act(),                   # 28 x 28
            nn.Conv2d(width, 2 * width, 2, stride=2), act(),            # 14 x 14
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), act(),       # 14 x 14
            nn.Conv2d(2 * width, 4 * width, 2, stride=2), act(),        # 7 x 7
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(4 * width * 7 * 7, hidden), act(), nn.Linear(hidden, 10),
        )
        if constrained:
            for layer in self.modules():
                if isinstance(layer, nn.Conv2d) and layer.stride == (1, 1):
                    parametrize.register_parametrization(layer, "weight", AOLRescaled())
                elif isinstance(layer, (nn.Conv2d, nn.Linear)):
                    wide = isinstance(layer, nn.Linear) and layer.in_features > 1000
                    parametrize.register_parametrization(layer, "weight", Orthonormalized(6 if wide else 12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def freeze(self) -> "LipschitzCNN":
        """Replace every parametrised weight by its current value and the training MaxMin by
        ``MaxMin`` (plain layers from now on)."""
        for layer in list(self.modules()):
            if parametrize.is_parametrized(layer, "weight"):
                parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
        for seq in (self.features, self.classifier):
            for i, module in enumerate(seq):
                if isinstance(module, _TrainingMaxMin):
                    seq[i] = MaxMin()
        return self


def margin_loss(logits: torch.Tensor, y: torch.Tensor, *, margin: float, temperature: float) -> torch.Tensor:
    """Cross-entropy after lowering the true logit by ``margin``: the loss keeps pushing until
    the true class leads every other by about ``margin``, which certifies an L2 radius of
    ``margin / (sqrt(2) L)`` on a model with Lipschitz bound L. ``temperature`` scales the
    logits first (a larger one is closer to a hinge loss). Notebook 06.
    """
    shifted = logits - margin * nn.functional.one_hot(y, logits.shape[1]).to(logits)
    return nn.functional.cross_entropy(shifted * temperature, y) / temperature
