"""helpers.certainty and helpers.lipschitz: bounds that are bounds, certificates no attack beats."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from helpers import attacks, certainty, lipschitz


def dense_matrix(layer: nn.Module, input_shape: tuple[int, ...]) -> torch.Tensor:
    """The layer's linear part as an explicit matrix (columns: images of the basis vectors)."""
    n = math.prod(input_shape)
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *input_shape)
    forward, _ = certainty.linear_map(layer, layer.weight.detach().double())
    with torch.no_grad():
        return forward(basis).reshape(n, -1).T


@pytest.mark.parametrize("out_features,in_features", [(7, 5), (30, 64), (10, 3)])
def test_power_iteration_matches_exact_svd_on_dense_layers(out_features, in_features):
    torch.manual_seed(out_features)
    layer = nn.Linear(in_features, out_features)
    exact = torch.linalg.matrix_norm(layer.weight.detach().double(), ord=2).item()
    assert certainty.operator_norm(layer, (in_features,)) == pytest.approx(exact, rel=1e-4)


@pytest.mark.parametrize("stride,padding,kernel", [(1, 1, 3), (2, 1, 4), (1, 0, 5), (2, 2, 5)])
def test_power_iteration_matches_exact_svd_on_convolutions(stride, padding, kernel):
    torch.manual_seed(kernel + stride)
    layer = nn.Conv2d(3, 4, kernel, stride=stride, padding=padding)
    shape = (3, 9, 9)
    exact = torch.linalg.matrix_norm(dense_matrix(layer, shape), ord=2).item()
    assert certainty.operator_norm(layer, shape) == pytest.approx(exact, rel=1e-4)
    # the reshaped kernel is a different number: the course does not use it
    reshaped = torch.linalg.matrix_norm(layer.weight.detach().double().flatten(1), ord=2).item()
    assert abs(reshaped - exact) > 1e-3


def lanczos_norm(matrix: torch.Tensor, steps: int = 400) -> float:
    """The largest singular value of a float64 matrix by Lanczos on A^T A with full
    reorthogonalisation, run until converged: an independent estimate to check bounds against."""
    n = matrix.shape[1]
    steps = min(steps, n)
    q = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    Q = [q / q.norm()]
    alpha, beta = [], []
    for j in range(steps):
        w = matrix.T @ (matrix @ Q[-1])
        alpha.append(float(Q[-1] @ w))
        basis = torch.stack(Q, 1)
        w = w - basis @ (basis.T @ w)
        w = w - basis @ (basis.T @ w)
        b = float(w.norm())
        if b < 1e-12 or j == steps - 1:
            break
        beta.append(b)
        Q.append(w / b)
    t = torch.diag(torch.tensor(alpha, dtype=torch.float64))
    if beta:
        off = torch.tensor(beta[: len(alpha) - 1], dtype=torch.float64)
        t += torch.diag(off, 1) + torch.diag(off, -1)
    return math.sqrt(float(torch.linalg.eigvalsh(t)[-1]))


@pytest.mark.parametrize("out_features,in_features", [(7, 5), (30, 64), (128, 300)])
def test_bound_is_above_lanczos_and_tight_on_dense_layers(out_features, in_features):
    torch.manual_seed(out_features)
    layer = nn.Linear(in_features, out_features)
    w = layer.weight.detach().double()
    exact = torch.linalg.matrix_norm(w, ord=2).item()
    bound = certainty.operator_norm_bound(layer, (in_features,))
    assert bound >= lanczos_norm(w) and bound >= exact
    assert bound <= exact * (1 + 1e-7)


@pytest.mark.parametrize("channels,stride,padding,kernel,size", [
    ((3, 4), 1, 1, 3, 9), ((3, 4), 2, 1, 4, 10), ((2, 5), 1, 0, 5, 9), ((4, 2), 2, 2, 5, 11), ((1, 6), 1, 2, 5, 8),
])
def test_bound_is_above_lanczos_and_tight_on_convolutions(channels, stride, padding, kernel, size):
    torch.manual_seed(kernel + stride + size)
    layer = nn.Conv2d(*channels, kernel, stride=stride, padding=padding)
    shape = (channels[0], size, size)
    matrix = dense_matrix(layer, shape)
    exact = torch.linalg.matrix_norm(matrix, ord=2).item()
    bound = certainty.operator_norm_bound(layer, shape)
    assert bound >= lanczos_norm(matrix) and bound >= exact
    assert bound <= exact * (1 + 1e-7)  # a proof, and as tight as the exact value to 7 digits
    # power iteration, by contrast, approaches from below: never above the exact value by more than rounding
    assert certainty.operator_norm(layer, shape) <= exact * (1 + 1e-6)


def test_a_wrong_bound_would_be_caught():
    """The check above can fail: a bound computed on the reshaped kernel is not >= the exact norm."""
    torch.manual_seed(3)
    layer = nn.Conv2d(3, 4, 3, padding=1)
    matrix = dense_matrix(layer, (3, 9, 9))
    reshaped = torch.linalg.matrix_norm(layer.weight.detach().double().flatten(1), ord=2).item()
    assert reshaped < lanczos_norm(matrix)


def test_work_outside_modules_is_refused():
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))

        def forward(self, x):
            return 3.0 * self.body(x)  # a scale no layer bound sees

    with pytest.raises(ValueError, match="does more than run its layers"):
        certainty.lipschitz_upper_bound(Scaled())
    with pytest.raises(ValueError, match="method must be"):
        certainty.layer_norms(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), method="guess")


def test_certified_radius_takes_the_float_tolerance_off_the_margin():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    x = torch.rand(6, 1, 28, 28)
    with torch.no_grad():
        top2 = model(x).topk(2, dim=1).values
    margin = top2[:, 0] - top2[:, 1]
    bound = certainty.lipschitz_upper_bound(model)
    r0 = certainty.certified_radius(model, x, bound, tolerance=0.0)
    assert torch.allclose(r0, margin / (math.sqrt(2) * bound))
    r = certainty.certified_radius(model, x, bound, tolerance=1e-2)
    assert (r <= r0).all() and torch.allclose(r, ((margin - 1e-2) / (math.sqrt(2) * bound)).clamp_min(0))
    assert (certainty.certified_radius(model, x, bound, tolerance=float(margin.max()) + 1) == 0).all()
    with pytest.raises(ValueError, match="tolerance"):
        certainty.certified_radius(model, x, bound, tolerance=-1e-3)
    with pytest.raises(ValueError, match="tolerance"):
        certainty.certified_accuracy(model, x, torch.zeros(6, dtype=torch.long), [0.1], bound, tolerance=-1.0)


def test_bound_is_remembered_per_weights():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    first = certainty.lipschitz_upper_bound(model)
    assert certainty.lipschitz_upper_bound(model) == first
    with torch.no_grad():
        model[1].weight.mul_(2)  # new weights: a new bound, not the remembered one
    assert certainty.lipschitz_upper_bound(model) == pytest.approx(2 * first, rel=1e-9)


def test_adjoint_is_the_transpose():
    torch.manual_seed(0)
    layer = nn.Conv2d(2, 3, 4, stride=2, padding=1)
    forward, adjoint = certainty.linear_map(layer)
    u, v = torch.randn(1, 2, 10, 10), torch.randn(1, 3, 5, 5)
    with torch.no_grad():
        assert (forward(u) * v).sum().item() == pytest.approx((u * adjoint(v, u.shape)).sum().item(), rel=1e-4)


def test_bound_of_a_single_linear_layer_is_exact():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    exact = torch.linalg.matrix_norm(model[1].weight.detach().double(), ord=2).item()
    bound = certainty.lipschitz_upper_bound(model)
    assert exact <= bound <= exact * (1 + 1e-7)


def test_unknown_layers_refuse_to_be_bounded():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.Tanh())
    with pytest.raises(TypeError, match="Tanh"):
        certainty.lipschitz_upper_bound(model)
    with pytest.raises(TypeError, match="overlapping"):
        certainty.lipschitz_upper_bound(nn.Sequential(nn.MaxPool2d(3, stride=1), nn.Flatten()))


def test_upper_bound_beats_every_measured_slope(cnn, test_split):
    x, y = test_split
    x = x[:1000]
    bound = certainty.lipschitz_upper_bound(cnn)
    local = certainty.local_lipschitz(cnn, x[:200])
    margins = certainty.slopes(cnn, x)["margin"] / math.sqrt(2)
    adv = attacks.pgd(cnn, x[:200], y[:200], 2.0, norm="l2", steps=10, seed=0)
    path = certainty.path_profile(cnn, x[:200], adv, points=20)["slope"]
    assert len(margins) == 1000
    assert local.max() <= bound and margins.max() <= bound and path.max() <= bound
    assert local.min() > 0  # the slopes are real measurements, not zeros


def test_local_lipschitz_is_the_jacobian_norm_of_a_linear_model():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    x = torch.rand(3, 1, 28, 28)
    exact = torch.linalg.matrix_norm(model[1].weight.detach(), ord=2)
    assert torch.allclose(certainty.local_lipschitz(model, x), exact.expand(3), rtol=1e-4)


def test_maxmin_is_one_lipschitz_and_sorts_pairs():
    torch.manual_seed(3)
    a, b = torch.randn(50, 8, 3, 3), torch.randn(50, 8, 3, 3)
    act = certainty.MaxMin()
    assert ((act(a) - act(b)).flatten(1).norm(dim=1) <= (a - b).flatten(1).norm(dim=1) + 1e-6).all()
    out = act(a)
    assert torch.equal(out[:, :4], torch.maximum(a[:, :4], a[:, 4:]))
    with pytest.raises(ValueError, match="even"):
        act(torch.randn(2, 3))


def test_certified_radius_and_accuracy_bad_inputs(cnn, test_split):
    x, y = test_split
    with pytest.raises(ValueError, match="bound"):
        certainty.certified_radius(cnn, x[:2], bound=0.0)
    with pytest.raises(ValueError, match="radii"):
        certainty.certified_accuracy(cnn, x[:2], y[:2], [-0.5])
    with pytest.raises(ValueError, match="radius"):
        certainty.certainty_floor(cnn, x[:2], -1.0)
    with pytest.raises(ValueError):
        certainty.certified_radius(cnn, x[:2] * 3)


def test_certified_accuracy_falls_with_radius(cnn, test_split):
    x, y = test_split
    acc = certainty.certified_accuracy(cnn, x[:300], y[:300], [0.0, 0.05, 0.2, 1.0])
    assert acc[0] >= 0.97 and (acc[:-1] >= acc[1:]).all()


@pytest.fixture(scope="module")
def lipschitz_cnn():
    from helpers.models import load_pretrained

    return load_pretrained("lipschitz_cnn")


def test_lipschitz_cnn_bound_is_about_one(lipschitz_cnn):
    bound = certainty.lipschitz_upper_bound(lipschitz_cnn)
    assert 0.5 < bound < 1.2
    norms = [n for name, n in certainty.layer_norms(lipschitz_cnn) if name in ("Conv2d", "Linear")]
    assert len(norms) == 6 and max(norms) < 1.1


def pgd_l2_per_example(model, x, y, eps: torch.Tensor, *, steps: int = 20, restarts: int = 2, seed: int = 0):
    """PGD-L2 (margin loss, random start, steps of eps/4) with a budget of its own for each
    example; returns a bool per example: did any run change the prediction away from y?"""
    gen = torch.Generator().manual_seed(seed)
    fooled = torch.zeros(len(x), dtype=torch.bool)
    e = eps.view(-1, 1, 1, 1)
    for _ in range(restarts):
        start = torch.randn(x.shape, generator=gen)
        delta = attacks._project_l2_box(start / start.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * e * 0.5, x, eps)
        for _ in range(steps):
            xa = (x + delta).clamp(0, 1).requires_grad_(True)
            logits = model(xa)
            grad, = torch.autograd.grad(attacks.margin(logits, y).sum(), xa)
            with torch.no_grad():
                fooled |= logits.argmax(1) != y
                step = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
                delta = attacks._project_l2_box(delta + e / 4 * step, x, eps)
        with torch.no_grad():
            adv = (x + delta).clamp(0, 1)
            assert ((adv - x).flatten(1).norm(dim=1) <= eps + 1e-5).all()
            fooled |= model(adv).argmax(1) != y
    return fooled


def test_no_certificate_is_beaten(lipschitz_cnn, test_split):
    """PGD-L2 with restarts at 0.99 x each example's certified radius never changes its prediction."""
    x, y = test_split
    bound = certainty.lipschitz_upper_bound(lipschitz_cnn)
    radius = certainty.certified_radius(lipschitz_cnn, x[:600], bound)
    with torch.no_grad():
        pred = lipschitz_cnn(x[:600]).argmax(1)
    pick = torch.nonzero(radius > 0.05)[:250, 0]
    assert len(pick) >= 200
    xs, ps, rs = x[pick], pred[pick], radius[pick]
    # every example at exactly 0.99 x its own radius (20 steps of eps/4, 2 random starts) ...
    assert not pgd_l2_per_example(lipschitz_cnn, xs, ps, 0.99 * rs).any()
    # ... and the course's PGD (multi-targeted restarts) on bins 10% wide, each attacked at
    # 0.99 x its lowest radius (so between 0.9 and 0.99 of each example's own)
    bins = torch.floor(torch.log(rs) / math.log(1.1))
    for b in bins.unique():
        group = bins == b
        eps = 0.99 * float(1.1 ** b)
        adv = attacks.pgd(lipschitz_cnn, xs[group], ps[group], eps, norm="l2", steps=20, restarts=3, seed=0)
        assert not attacks.is_adversarial(lipschitz_cnn, adv, ps[group]).any()
    # the certificate is not vacuous: the same attack succeeds at 2.5x the radius
    assert pgd_l2_per_example(lipschitz_cnn, xs, ps, 2.5 * rs, restarts=1).any()


def test_operator_normalized_layers_train_to_norm_one():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 6, 4, stride=2, padding=1)
    parametrize = torch.nn.utils.parametrize
    parametrize.register_parametrization(conv, "weight", lipschitz.OperatorNormalized(conv, (3, 14, 14)))
    conv.train()
    for _ in range(30):  # the persistent power-iteration vector converges as training calls run
        conv(torch.rand(2, 3, 14, 14))
    parametrize.remove_parametrizations(conv, "weight", leave_parametrized=True)
    assert certainty.operator_norm_bound(conv, (3, 14, 14)) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("channels, kernel, size", [((1, 8), 3, 12), ((6, 4), 3, 9), ((5, 10), 5, 8), ((8, 8), 1, 6)])
def test_aol_rescaling_bounds_every_stride_one_convolution_by_one(channels, kernel, size):
    """For random kernels of several shapes, the AOL-rescaled convolution (zero padding) is
    proven at most 1, and not vacuously: it is well above 0, and the same kernel unrescaled
    is far above 1 (so the test would catch a rescaling that did nothing)."""
    gen = torch.Generator().manual_seed(kernel * size)
    for trial in range(3):
        weight = torch.randn(channels[1], channels[0], kernel, kernel, generator=gen) * (1 + trial)
        conv = nn.Conv2d(*channels, kernel, padding=kernel // 2, bias=False)
        shape = (channels[0], size, size)
        with torch.no_grad():
            conv.weight.copy_(weight)
            raw = certainty.operator_norm_bound(conv, shape)
            conv.weight.copy_(lipschitz.AOLRescaled()(weight))
        bound = certainty.operator_norm_bound(conv, shape)
        assert 0.2 < bound <= 1 + 1e-5 and raw > 1.5


def test_orthonormalized_kernels_are_isometries_only_where_patches_do_not_overlap():
    torch.manual_seed(1)
    ortho = lipschitz.Orthonormalized(12)
    for layer, shape in ((nn.Linear(40, 12), (40,)), (nn.Linear(9, 30), (9,)),
                         (nn.Conv2d(4, 12, 2, stride=2), (4, 10, 10)), (nn.Conv2d(8, 8, 2, stride=2), (8, 6, 6))):
        with torch.no_grad():
            layer.weight.copy_(ortho(layer.weight * 3))
        assert certainty.operator_norm_bound(layer, shape) == pytest.approx(1.0, abs=1e-4)
    overlapping = nn.Conv2d(4, 16, 4, stride=2, padding=1)  # each pixel in up to 4 patches
    with torch.no_grad():
        overlapping.weight.copy_(ortho(overlapping.weight))
    assert certainty.operator_norm_bound(overlapping, (4, 12, 12)) > 1.2
    with pytest.raises(ValueError, match="iterations"):
        lipschitz.Orthonormalized(0)


def test_the_constrained_lipschitz_cnn_is_bounded_and_freezes_into_the_same_function():
    torch.manual_seed(0)
    model = lipschitz.LipschitzCNN(width=2, hidden=8, constrained=True).eval()
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        before = model(x)
    model.freeze()
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in model.modules())
    assert all(type(m).__name__ != "_TrainingMaxMin" for m in model.modules())
    with torch.no_grad():
        assert torch.allclose(model(x), before, atol=1e-6)
    norms = certainty.layer_norms(model)
    linear = [n for name, n in norms if name in ("Conv2d", "Linear")]
    assert len(linear) == 6 and all(n <= 1 + 1e-5 for n in linear)
    assert all(linear[i] > 0.99 for i in (1, 3, 4, 5))  # the orthonormalised ones (2 x 2 convolutions, linear layers)
    shell = lipschitz.LipschitzCNN(width=2, hidden=8)
    shell.load_state_dict(model.state_dict())  # the plain shell a checkpoint loads into


def test_lipschitz_cnn_bound_beats_its_slopes(lipschitz_cnn, test_split):
    """On the Lipschitz CNN the bound is nearly tight, so this is the sharper check."""
    x, y = test_split
    bound = certainty.lipschitz_upper_bound(lipschitz_cnn)
    margins = certainty.slopes(lipschitz_cnn, x[:1000])["margin"] / math.sqrt(2)
    local = certainty.local_lipschitz(lipschitz_cnn, x[:200])
    adv = attacks.pgd(lipschitz_cnn, x[:100], y[:100], 3.0, norm="l2", steps=10, seed=0)
    path = certainty.path_profile(lipschitz_cnn, x[:100], adv, points=30)["slope"]
    assert margins.max() <= bound and local.max() <= bound and path.max() <= bound
    assert local.max() > 0.3 * bound  # and the bound is not absurdly loose here


def test_the_logit_tolerance_covers_float32_rounding_at_both_ends(lipschitz_cnn, test_split):
    """A certified radius compares margins computed in float32 at x and, by whoever checks it,
    at the changed image: ``LOGIT_TOLERANCE`` must cover the rounding of both passes. Measured
    against the same weights in float64 on 1,000 test digits: a margin's rounding is at most
    twice the largest logit's, both passes' together four times it, and that must stay below
    half the tolerance (measured on all 10,000 digits: logits within 2.3e-6)."""
    import copy

    x = test_split[0][:1000]
    exact = copy.deepcopy(lipschitz_cnn).double()
    with torch.no_grad():
        rounding = (lipschitz_cnn(x).double() - exact(x.double())).abs().amax()
    assert 0 < 4 * rounding < certainty.LOGIT_TOLERANCE / 2


def test_maxmin_gradient_is_autograds_for_max_and_min_even_at_ties():
    """MaxMin's one-pass backward gives exactly the gradient autograd gives torch.maximum and
    torch.minimum (ties split in halves), so the attacks on the Lipschitz CNN see the same gradients."""
    torch.manual_seed(3)
    x = torch.randint(-3, 4, (40, 8, 5, 5)).float().requires_grad_(True)  # small integers: many ties
    assert (x.chunk(2, dim=1)[0] == x.chunk(2, dim=1)[1]).float().mean() > 0.1
    g = torch.randn(40, 8, 5, 5)
    (certainty.MaxMin()(x) * g).sum().backward()
    ours, x.grad = x.grad.clone(), None
    a, b = x.chunk(2, dim=1)
    reference = torch.cat([torch.maximum(a, b), torch.minimum(a, b)], dim=1)
    (reference * g).sum().backward()
    assert torch.equal(certainty.MaxMin()(x), reference)
    assert torch.equal(ours, x.grad)
