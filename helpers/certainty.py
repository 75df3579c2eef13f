"""The essay's certainty criterion, measured: how fast can a model's output change?

The criterion: if a network gives a certainty that an image is a cat, changing the image
must not change that certainty by more than a constant K times the L2 size of the
change. Notebook 06 measures K for the course's models from two sides:

- **from below**, by finding changes that move the output fast: the local slope (the
  input gradient of a class probability or of the logit margin, the spectral norm of the
  input Jacobian) at data points, and finite differences along attack paths;
- **from above**, for the whole model at once: the product of upper bounds on the
  operator norms of its layers, times 1 for each 1-Lipschitz activation or pooling. Each
  layer's bound is a proof, not an estimate (``operator_norm_bound``): the layer, a
  convolution treated as the linear map it is, is written out exactly in float64, its
  Gram matrix's largest eigenvalue is computed by LAPACK, and a margin larger than every
  float rounding error of that computation is added. (Power iteration, ``operator_norm``,
  approaches the norm from below: it is the estimate notebook 06 starts from.)

An upper bound L on the logit map certifies a radius: the logit margin (top logit minus
runner-up) can shrink by at most sqrt(2) L per unit of L2, so no change of L2 size below
margin / (sqrt(2) L) can change the predicted class.

Nothing happens on import.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .checks import check_images, check_labels, check_nonnegative

__all__ = [
    "linear_map",
    "operator_norm",
    "operator_norm_bound",
    "layer_norms",
    "lipschitz_upper_bound",
    "input_jacobian",
    "local_lipschitz",
    "slopes",
    "path_profile",
    "certified_radius",
    "certified_accuracy",
    "certainty_floor",
    "MaxMin",
]

SQRT2 = math.sqrt(2.0)


class _SortPairs(torch.autograd.Function):
    """(a, b) -> (max(a, b), min(a, b)) with the gradient autograd gives ``torch.maximum`` and
    ``torch.minimum`` (a tie splits it in halves). Autograd's way takes eight elementwise
    passes and two concatenations (about half of a plain input gradient of the Lipschitz
    CNN); here forward writes both halves in place and keeps two masks (a > b, a < b), and
    backward routes the gradient with one ``where`` per half, mending ties (rare: exactly
    equal pre-activations) only where there are any. The same numbers, bit for bit."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        half = a.shape[1]
        out = torch.empty_like(x, memory_format=torch.contiguous_format)
        torch.maximum(a, b, out=out[:, :half])
        torch.minimum(a, b, out=out[:, half:])
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(a > b, a < b)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        above, below = ctx.saved_tensors
        to_max, to_min = grad.chunk(2, dim=1)
        half = to_max.shape[1]
        out = torch.empty_like(grad, memory_format=torch.contiguous_format)
        grad_a, grad_b = out[:, :half], out[:, half:]
        torch.where(above, to_max, to_min, out=grad_a)
        torch.where(above, to_min, to_max, out=grad_b)
        tie = ~(above | below)
        if tie.any():
            split = to_max[tie] / 2 + to_min[tie] / 2
            grad_a[tie] = split
            grad_b[tie] = split
        return out


class MaxMin(nn.Module):
    """The MaxMin activation: channels in pairs (a, b) become (max(a, b), min(a, b)). Notebook 06.

    It only sorts, so it is 1-Lipschitz in L2 and keeps the gradient's norm, unlike ReLU,
    which throws away half of it; 1-Lipschitz networks use it for that reason (Anil et al.
    2019, "GroupSort"). Works on ``[B, C, ...]`` with C even. Its gradient is autograd's for
    ``torch.maximum`` and ``torch.minimum``, in one pass (``_SortPairs``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] % 2:
            raise ValueError(f"MaxMin needs an even number of channels, got {x.shape[1]}")
        return _SortPairs.apply(x)


# ----------------------------------------------------------------------------
# K from above: operator norms, proven (Gram matrices) or estimated from below (power iteration)
# ----------------------------------------------------------------------------

_LINEAR_LAYERS = (nn.Conv2d, nn.Linear)
# layers that are 1-Lipschitz in L2 (max-pooling only when its windows do not overlap)
_ONE_LIPSCHITZ = (nn.ReLU, MaxMin, nn.Flatten, nn.Dropout, nn.Identity)


def linear_map(layer: nn.Module, weight: torch.Tensor | None = None):
    """The linear part of ``layer`` (bias dropped) and its adjoint, as two functions. Notebook 06.

    For ``nn.Conv2d`` the adjoint is ``torch.nn.grad.conv2d_input``: the convolution as the
    linear operator on whole images that it is, not its kernel reshaped into a matrix.
    ``weight`` replaces the layer's own weight (the Lipschitz CNN's parametrisation uses it).
    """
    w = layer.weight if weight is None else weight
    if isinstance(layer, nn.Linear):
        return (lambda u: u @ w.T), (lambda v, shape=None: v @ w)
    if isinstance(layer, nn.Conv2d):
        if layer.padding_mode != "zeros":
            raise TypeError(f"only zero-padded convolutions are supported, got padding_mode={layer.padding_mode!r}")
        opts = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups)

        def forward(u: torch.Tensor) -> torch.Tensor:
            return nn.functional.conv2d(u, w, None, **opts)

        def adjoint(v: torch.Tensor, shape: torch.Size | None = None) -> torch.Tensor:
            return torch.nn.grad.conv2d_input(list(shape), w, v, **opts)

        return forward, adjoint
    raise TypeError(f"layer must be nn.Linear or nn.Conv2d, got {type(layer).__name__}")


def operator_norm(
    layer: nn.Module,
    input_shape: Sequence[int],
    *,
    iterations: int = 3000,
    tol: float = 1e-5,
    window: int = 50,
    seed: int = 0,
) -> float:
    """The largest singular value of ``layer``'s linear part on inputs of ``input_shape``. Notebook 06.

    Power iteration on M = A^T A: u <- M u / |M u|; the estimate |A u| for the unit vector
    u rises towards the true norm. It stops when the estimate has grown by less than
    ``tol`` (relative) over the last ``window`` iterations, or after ``iterations``. Power
    iteration approaches the norm from below, slowly when the top singular values are
    close together (as in a normalised layer), so this is an estimate, not a proof
    (``operator_norm_bound`` is the proof); the tests check it against an exact SVD of the
    materialised matrix.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    shape = torch.Size([1, *input_shape])
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        forward, adjoint = linear_map(layer, layer.weight.detach().float())
        u = torch.randn(shape, generator=generator)
        u = u / u.norm()
        history = []
        for i in range(iterations):
            v = forward(u)
            history.append(float(v.norm()))
            if i >= window and history[-1] - history[-1 - window] <= tol * history[-1]:
                break
            u = adjoint(v, shape)
            norm = u.norm()
            if norm == 0:  # the zero map
                return 0.0
            u = u / norm
        return float(forward(u).norm())


def _chain(model: nn.Module, image_shape: Sequence[int]) -> list[tuple[nn.Module, torch.Size]]:
    """The leaf modules of ``model`` in the order a forward pass runs them, with their input shapes."""
    order: list[tuple[nn.Module, torch.Size]] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: order.append((mod, inp[0].shape[1:])))
             for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(torch.zeros(1, *image_shape))
    finally:
        for h in hooks:
            h.remove()
    return order


ROUNDING_MARGIN = 1e-9
"""Relative margin added to each computed Gram eigenvalue, and absolute margin times the Gram
matrix's trace: both far above the float64 rounding of the Gram matrix (entries are sums of
at most ~10^5 products, each error below 10^5 x 2^-53 x the product of the two column norms)
and of LAPACK's symmetric eigensolver (backward error a small multiple of n x 2^-53 x |G|)."""


def _gram(layer: nn.Module, input_shape: Sequence[int], block: int = 512) -> torch.Tensor:
    """The Gram matrix of the layer's linear map A in float64: A^T A (input side) or A A^T
    (output side), whichever is smaller, built column block by column block from the
    layer's own forward and adjoint maps, so A itself is never stored."""
    shape = torch.Size([1, *input_shape])
    with torch.no_grad():
        forward, adjoint = linear_map(layer, layer.weight.detach().double())
        out_shape = forward(torch.zeros(shape, dtype=torch.float64)).shape[1:]
        n_in, n_out = math.prod(shape[1:]), math.prod(out_shape)
        side, n = ("in", n_in) if n_in <= n_out else ("out", n_out)
        gram = torch.empty(n, n, dtype=torch.float64)
        for start in range(0, n, block):
            stop = min(n, start + block)
            basis = torch.zeros(stop - start, n, dtype=torch.float64)
            basis[torch.arange(stop - start), torch.arange(start, stop)] = 1.0
            if side == "in":  # columns of A^T A: A^T (A e_j)
                images = basis.reshape(-1, *shape[1:])
                cols = adjoint(forward(images), torch.Size([len(images), *shape[1:]]))
            else:  # columns of A A^T: A (A^T e_j)
                images = basis.reshape(-1, *out_shape)
                cols = forward(adjoint(images, torch.Size([len(images), *shape[1:]])))
            gram[:, start:stop] = cols.reshape(stop - start, n).T
    return (gram + gram.T) / 2  # symmetric by construction; averaging removes rounding asymmetry only


def operator_norm_bound(layer: nn.Module, input_shape: Sequence[int]) -> float:
    """A proven upper bound on the largest singular value of ``layer``'s linear part on
    inputs of ``input_shape`` (the bias does not change how far outputs move). Notebook 06.

    The layer's weights are float32 numbers, so the linear map A they define is exact in
    float64. Its Gram matrix G (A^T A or A A^T, the smaller) is built in float64 and its
    largest eigenvalue computed by LAPACK's symmetric solver (``numpy.linalg.eigvalsh``);
    ``ROUNDING_MARGIN`` covers both computations' rounding, generously. The bound is then
    ``sqrt(lambda_max (1 + margin) + margin * trace(G))``, which no float error can push
    below the true norm. Exact to about 9 digits, so it is also as tight as can be.
    """
    import numpy as np

    if not isinstance(layer, _LINEAR_LAYERS):
        raise TypeError(f"layer must be nn.Linear or nn.Conv2d, got {type(layer).__name__}")
    if isinstance(layer, nn.Linear):
        w = layer.weight.detach().double()
        gram = w.T @ w if w.shape[1] <= w.shape[0] else w @ w.T
    else:
        gram = _gram(layer, input_shape)
    top = float(np.linalg.eigvalsh(gram.numpy())[-1])
    trace = float(torch.diagonal(gram).sum())
    return math.sqrt(max(top, 0.0) * (1 + ROUNDING_MARGIN) + ROUNDING_MARGIN * trace) * (1 + 1e-15)


def _replays(chain: list[tuple[nn.Module, torch.Size]], model: nn.Module, image_shape: Sequence[int]) -> None:
    """Check that running the chain's modules one after another *is* the model: work done
    outside modules (a scale, a residual, a reordering) would escape the layer bound."""
    x = torch.rand(2, *image_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        z = x
        for module, _ in chain:
            z = module(z)
        direct = model(x)
    if z.shape != direct.shape or not torch.allclose(z, direct, rtol=1e-4, atol=1e-5):
        raise ValueError(f"{type(model).__name__} does more than run its layers one after another (a scale, a "
                         "residual, work outside modules), so the product of layer norms is not a bound for it")


_NORMS: dict[str, list[tuple[str, float]]] = {}
"""``layer_norms`` results by a hash of the model's weights, the image shape and the method."""


def _fingerprint(model: nn.Module, image_shape: Sequence[int]) -> str:
    import hashlib

    digest = hashlib.sha256(f"{type(model).__qualname__}{tuple(image_shape)}".encode())
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(str(tuple(value.shape)).encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def layer_norms(model: nn.Module, image_shape: Sequence[int] = (1, 28, 28), *, method: str = "bound",
                **power) -> list[tuple[str, float]]:
    """Each layer of a feed-forward chain with its L2 Lipschitz constant. Notebook 06.

    Linear and convolutional layers: ``method="bound"`` (default) gives the proven upper
    bound of ``operator_norm_bound``; ``"estimate"`` the power-iteration estimate of
    ``operator_norm`` (from below; ``power`` goes to it). ReLU, MaxMin, flatten, dropout (in
    eval mode): 1. Max-pooling with non-overlapping windows: 1. Any other module raises
    ``TypeError`` naming it: the bound would not be a bound. The chain is replayed
    module by module and must reproduce ``model(x)`` (``ValueError`` otherwise). The
    result is remembered per set of weights (and settings), so asking again is free.
    """
    if method not in ("bound", "estimate"):
        raise ValueError(f"method must be 'bound' or 'estimate', got {method!r}")
    key = f"{_fingerprint(model, image_shape)}:{method}:{sorted(power.items())}"
    if key not in _NORMS:
        _NORMS[key] = _layer_norms(model, image_shape, method, power)
    return list(_NORMS[key])


def _layer_norms(model: nn.Module, image_shape: Sequence[int], method: str, power: dict) -> list[tuple[str, float]]:
    was_training = model.training
    model.eval()
    rows = []
    try:
        chain = _chain(model, image_shape)
        for module, shape in chain:
            name = type(module).__name__
            if isinstance(module, _LINEAR_LAYERS):
                norm = operator_norm_bound(module, shape) if method == "bound" else operator_norm(module, shape, **power)
                rows.append((name, norm))
            elif isinstance(module, nn.MaxPool2d):
                k, s = module.kernel_size, module.stride
                if k != s or module.padding != 0 or module.dilation != 1:
                    raise TypeError("max-pooling with overlapping windows is not supported")
                rows.append((name, 1.0))
            elif isinstance(module, _ONE_LIPSCHITZ):
                rows.append((name, 1.0))
            else:
                raise TypeError(f"no Lipschitz bound known for {name}; the model must be a chain of "
                                "Linear, Conv2d, ReLU, MaxMin, MaxPool2d (non-overlapping), Flatten, Dropout")
        _replays(chain, model, image_shape)
    finally:
        model.train(was_training)
    return rows


def lipschitz_upper_bound(model: nn.Module, image_shape: Sequence[int] = (1, 28, 28)) -> float:
    """A proven upper bound on the L2 Lipschitz constant of the logit map of ``model``. Notebook 06.

    The product of the layer bounds of ``layer_norms``: a composition changes its output by
    at most the product of what each step can. Exact (to 9 digits) for one linear layer,
    usually loose for deep networks, since the worst direction of one layer is rarely the
    worst of the next. Remembered per set of weights, so asking again is free.
    """
    return math.prod(norm for _, norm in layer_norms(model, image_shape))


# ----------------------------------------------------------------------------
# K from below: local slopes and attack paths
# ----------------------------------------------------------------------------


def input_jacobian(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The Jacobian of the logits with respect to the input, ``[B, classes, pixels]``. Notebook 06."""
    check_images(x)
    with torch.enable_grad():
        xg = x.detach().clone().requires_grad_(True)
        logits = model(xg)
        rows = [torch.autograd.grad(logits[:, k].sum(), xg, retain_graph=k < logits.shape[1] - 1)[0].flatten(1)
                for k in range(logits.shape[1])]
    return torch.stack(rows, dim=1)


def local_lipschitz(model: nn.Module, x: torch.Tensor, batch_size: int = 250) -> torch.Tensor:
    """Per image, the spectral norm of the logits' input Jacobian: the model's Lipschitz
    constant in an infinitesimal neighbourhood, so a lower bound on the global one. Notebook 06.
    """
    out = [torch.linalg.matrix_norm(input_jacobian(model, x[i : i + batch_size]), ord=2)
           for i in range(0, len(x), batch_size)]
    return torch.cat(out)


def slopes(model: nn.Module, x: torch.Tensor, batch_size: int = 250) -> dict[str, torch.Tensor]:
    """Per image, the L2 norm of the input gradient of (a) the predicted class's probability
    and (b) the logit margin (predicted minus runner-up). Notebook 06.

    (a) is the essay's "certainty" slope. (b) divided by sqrt(2) is a lower bound on the
    Lipschitz constant of the logit map (a margin is a difference of two logits).
    """
    check_images(x)
    prob, margin = [], []
    for i in range(0, len(x), batch_size):
        with torch.enable_grad():
            xb = x[i : i + batch_size].detach().clone().requires_grad_(True)
            logits = model(xb)
            top2 = logits.topk(2, dim=1)
            pred, runner = top2.indices[:, 0], top2.indices[:, 1]
            p = torch.softmax(logits, dim=1).gather(1, pred[:, None])[:, 0]
            m = top2.values[:, 0] - top2.values[:, 1]
            gp = torch.autograd.grad(p.sum(), xb, retain_graph=True)[0]
            gm = torch.autograd.grad(m.sum(), xb)[0]
        prob.append(gp.flatten(1).norm(dim=1))
        margin.append(gm.flatten(1).norm(dim=1))
    return {"probability": torch.cat(prob), "margin": torch.cat(margin)}


def path_profile(model: nn.Module, x: torch.Tensor, x_end: torch.Tensor, points: int = 50) -> dict[str, torch.Tensor]:
    """Walk from ``x`` to ``x_end`` in a straight line and read the model along the way. Notebook 06.

    Returns ``distance`` ``[B, points]`` (L2 from ``x``), ``logits`` ``[B, points, classes]``,
    ``probability`` (of the class predicted at ``x``) and ``slope``: per image, the largest
    ``|logits(a) - logits(b)| / |a - b|`` between neighbouring points, a lower bound on
    the Lipschitz constant of the logit map (finite differences, no gradients).
    """
    check_images(x)
    check_images(x_end, "x_end")
    if x.shape != x_end.shape:
        raise ValueError(f"x and x_end must have the same shape, got {tuple(x.shape)} and {tuple(x_end.shape)}")
    if points < 2:
        raise ValueError(f"points must be >= 2, got {points}")
    t = torch.linspace(0, 1, points)
    direction = (x_end - x).flatten(1)
    length = direction.norm(dim=1)
    walk = x.flatten(1)[:, None, :] + t[None, :, None] * direction[:, None, :]
    with torch.no_grad():
        logits = model(walk.reshape(-1, *x.shape[1:])).reshape(len(x), points, -1)
    pred = logits[:, 0].argmax(dim=1)
    probability = torch.softmax(logits, dim=2).gather(2, pred[:, None, None].expand(-1, points, 1))[..., 0]
    step = (length / (points - 1)).clamp_min(1e-12)
    slope = (logits[:, 1:] - logits[:, :-1]).norm(dim=2).amax(dim=1) / step
    return {"distance": length[:, None] * t[None, :], "logits": logits, "probability": probability, "slope": slope}


# ----------------------------------------------------------------------------
# certificates
# ----------------------------------------------------------------------------


LOGIT_TOLERANCE = 1e-4
"""How much float32 rounding of the forward pass may move a logit margin, taken off every
margin before it is turned into a radius (margins of certified digits are of order 1)."""


def _certify(model: nn.Module, x: torch.Tensor, bound: float | None,
             tolerance: float = LOGIT_TOLERANCE) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward pass over ``x`` (in chunks): the predicted classes and the certified radii."""
    check_images(x)
    tolerance = check_nonnegative(tolerance, "tolerance")
    if bound is None:
        bound = lipschitz_upper_bound(model, x.shape[1:])
    if not bound > 0 or not math.isfinite(bound):
        raise ValueError(f"bound must be a positive finite number, got {bound}")
    with torch.no_grad():
        logits = torch.cat([model(x[i : i + 1000]) for i in range(0, len(x), 1000)])
    top2 = logits.topk(2, dim=1)
    margin = top2.values[:, 0] - top2.values[:, 1] - tolerance
    radius = (margin / (SQRT2 * bound)).clamp_min(0)
    return top2.indices[:, 0], radius


def certified_radius(model: nn.Module, x: torch.Tensor, bound: float | None = None, *,
                     tolerance: float = LOGIT_TOLERANCE) -> torch.Tensor:
    """Per image, an L2 radius within which the predicted class provably cannot change. Notebook 06.

    ``(margin - tolerance) / (sqrt(2) * bound)``, with the logit margin (top logit minus
    runner-up), ``tolerance`` for the float rounding of the forward pass that computed it,
    and ``bound`` an upper bound on the Lipschitz constant of the logit map
    (``lipschitz_upper_bound(model)`` when not given). 0 where that is not positive.
    A negative ``tolerance`` raises ``ValueError``.
    """
    return _certify(model, x, bound, tolerance)[1]


def certified_accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, radii: Sequence[float], bound: float | None = None, *,
    tolerance: float = LOGIT_TOLERANCE,
) -> torch.Tensor:
    """For each radius in ``radii``, the fraction of images classified correctly *and*
    certified at that radius (``certified_radius`` with ``tolerance``). Notebook 06."""
    check_labels(y, len(x))
    for r in radii:
        check_nonnegative(r, "radii")
    pred, radius = _certify(model, x, bound, tolerance)
    right = pred == y
    return torch.tensor([float((right & (radius >= r)).float().mean()) for r in radii])


def certainty_floor(model: nn.Module, x: torch.Tensor, radius: float, bound: float | None = None) -> torch.Tensor:
    """The essay's criterion in its own terms: per image, the lowest the probability of the
    predicted class can fall under any change of L2 size at most ``radius``. Notebook 06.

    The softmax's Jacobian has spectral norm at most 1/2, so a probability moves by at
    most ``bound / 2`` per unit of L2: K = bound / 2 for certainty.
    """
    check_images(x)
    check_nonnegative(radius, "radius")
    if bound is None:
        bound = lipschitz_upper_bound(model, x.shape[1:])
    with torch.no_grad():
        p = torch.softmax(model(x), dim=1).amax(dim=1)
    return (p - bound / 2 * radius).clamp_min(0)
