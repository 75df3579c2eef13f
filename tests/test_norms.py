"""helpers.norms: the three norms, projections, the bounds between norms, quantisation, unit balls.

Property tests (hypothesis, few examples) over shapes, budgets and random
perturbations; tensors come from a torch generator seeded by hypothesis, so a
failing example is reproducible from its printed seed.
"""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import norms

FEW = settings(max_examples=25, deadline=None)
TOL = 1e-5

seeds = st.integers(0, 2**31 - 1)
shapes = st.tuples(
    st.integers(1, 4),  # batch
    st.sampled_from([(1, 5, 5), (1, 28, 28), (3, 4, 4), (7,), (2, 3)]),
).map(lambda t: (t[0], *t[1]))
budgets = st.floats(0.0, 5.0, allow_nan=False)
bit_depths = st.integers(1, 8)


def rand(shape, seed, scale=1.0) -> torch.Tensor:
    """Gaussian noise of the given shape and scale, with examples of very different sizes."""
    g = torch.Generator().manual_seed(seed)
    sizes = torch.rand(shape[0], generator=g) * 2 * scale  # per-example size, some tiny, some large
    noise = torch.randn(shape, generator=g)
    return noise * sizes.reshape(-1, *([1] * (len(shape) - 1)))


def images(shape, seed) -> torch.Tensor:
    """Uniform images in [0, 1], with some pixels exactly 0 or 1 as in real digits."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g) * 1.4 - 0.2
    return x.clamp(0.0, 1.0)


def per_example(values: torch.Tensor, shape) -> torch.Tensor:
    """Reshape ``[B]`` to broadcast against a batch of the given shape."""
    return values.reshape(-1, *([1] * (len(shape) - 1)))


# --- the norms themselves ------------------------------------------------------------------------


def test_norms_on_a_known_perturbation():
    delta = torch.tensor([[[3.0, -4.0, 0.0, 0.0]], [[0.0, 0.0, 0.0, 0.0]], [[0.5, 0.5, 0.5, -0.5]]])
    assert norms.l0(delta).tolist() == [2, 0, 4]
    assert torch.allclose(norms.l2(delta), torch.tensor([5.0, 0.0, 1.0]))
    assert torch.allclose(norms.linf(delta), torch.tensor([4.0, 0.0, 0.5]))
    assert norms.l0(delta, tol=0.5).tolist() == [2, 0, 0]  # |delta| must exceed tol
    for p in ("l0", "l2", "linf"):
        assert torch.equal(norms.norm(delta, p), getattr(norms, p)(delta))
    assert norms.norm(delta, "l0", tol=3.5).tolist() == [1, 0, 0]


@FEW
@given(shape=shapes, seed=seeds)
def test_norms_are_per_example(shape, seed):
    delta = rand(shape, seed)
    for p in ("l0", "l2", "linf"):
        whole = norms.norm(delta, p)
        assert whole.shape == (shape[0],)
        one_by_one = torch.cat([norms.norm(delta[i : i + 1], p) for i in range(shape[0])])
        assert torch.allclose(whole.double(), one_by_one.double())
    flat = delta.reshape(shape[0], -1).double()
    assert torch.allclose(norms.l2(delta).double(), flat.pow(2).sum(1).sqrt(), rtol=1e-5)


# --- projections ---------------------------------------------------------------------------------


@FEW
@given(shape=shapes, seed=seeds, eps=budgets)
def test_project_linf_lands_inside_and_keeps_inside_points(shape, seed, eps):
    delta = rand(shape, seed, scale=3.0)
    out = norms.project_linf(delta, eps)
    assert out.shape == delta.shape
    assert (norms.linf(out) <= eps + TOL).all()
    inside = per_example(norms.linf(delta) <= eps, shape)
    assert torch.equal(torch.where(inside, out, delta), delta)  # inside points unchanged
    # nearest point: entries that were inside are kept, the others go to +-eps
    assert torch.equal(out, torch.where(delta.abs() <= eps, delta, delta.sign() * eps))


@FEW
@given(shape=shapes, seed=seeds, eps=budgets)
def test_project_l2_lands_inside_and_keeps_inside_points(shape, seed, eps):
    delta = rand(shape, seed, scale=3.0)
    before = norms.l2(delta)
    out = norms.project_l2(delta, eps)
    after = norms.l2(out)
    assert out.shape == delta.shape
    assert (after <= eps + TOL).all()
    inside = before <= eps
    assert torch.equal(out[inside], delta[inside])
    # outside points go to the sphere along their own direction
    outside = ~inside
    assert torch.allclose(after[outside], torch.full_like(after[outside], eps), atol=TOL)
    if eps > 1e-4:  # smaller budgets underflow in float32
        cos = torch.nn.functional.cosine_similarity(out[outside].flatten(1), delta[outside].flatten(1), dim=1)
        assert torch.allclose(cos, torch.ones_like(cos), atol=1e-5)


def test_project_l2_scales_only_those_outside():
    delta = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    out = norms.project_l2(delta, 1.0)
    assert torch.allclose(out, torch.tensor([[0.6, 0.8], [0.3, 0.4], [0.0, 0.0]]))
    assert torch.equal(norms.project_l2(delta, 0.0), torch.zeros_like(delta))


@FEW
@given(shape=shapes, seed=seeds, eps=budgets, p=st.sampled_from(["linf", "l2"]))
def test_project_stays_in_box_and_ball(shape, seed, eps, p):
    x = images(shape, seed)
    x_adv = x + rand(shape, seed + 1, scale=2.0)  # far outside the box, often
    out = norms.project(x_adv, x, eps, p)
    assert out.shape == x.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert (norms.norm(out - x, p) <= eps + TOL).all()
    # a point already in the ball and the box is left alone
    again = norms.project(out, x, eps, p)
    assert torch.allclose(again, out, atol=1e-6)


@FEW
@given(shape=shapes, seed=seeds, eps=budgets)
def test_project_linf_is_the_exact_nearest_point(shape, seed, eps):
    x = images(shape, seed)
    x_adv = x + rand(shape, seed + 1, scale=2.0)
    out = norms.project(x_adv, x, eps, "linf")
    low, high = (x - eps).clamp(min=0.0), (x + eps).clamp(max=1.0)
    expected = torch.minimum(torch.maximum(x_adv, low), high)  # coordinate-wise, so exact
    assert torch.equal(out, expected)


def test_project_l2_clamps_towards_x():
    x = torch.tensor([[0.0, 1.0, 0.5]])
    x_adv = torch.tensor([[-2.0, 1.0, 0.5]])  # straight out of the box
    out = norms.project(x_adv, x, 1.0, "l2")
    assert torch.allclose(out, x)  # scaled to -1 then clamped back to 0: inside the ball, inside the box


# --- bounds between norms ------------------------------------------------------------------------


@FEW
@given(shape=shapes, seed=seeds, density=st.floats(0.0, 1.0))
def test_norm_inequalities_hold(shape, seed, density):
    g = torch.Generator().manual_seed(seed + 7)
    x = images(shape, seed)
    other = images(shape, seed + 1)
    mask = torch.rand(shape, generator=g) < density
    delta = torch.where(mask, other - x, torch.zeros_like(x))  # difference of images: entries in [-1, 1]
    b = norms.norm_bounds(delta)
    k = norms.l0(delta).double()
    n = delta[0].numel()
    assert set(b) == {"n", "l0", "linf", "l2", "sqrt_l0_times_linf", "sqrt_n_times_linf", "sqrt_l0"}
    assert torch.equal(b["l0"].double(), k) and (b["n"] == n).all()
    assert torch.allclose(b["l2"], norms.l2(delta)) and torch.allclose(b["linf"], norms.linf(delta))
    slack = 1 + TOL
    assert (b["linf"] <= b["l2"] * slack).all()
    assert (b["l2"] <= b["sqrt_l0_times_linf"] * slack).all()
    assert (b["sqrt_l0_times_linf"] <= b["sqrt_l0"] * slack).all()
    assert torch.allclose(b["sqrt_l0"].double(), k.sqrt())
    assert (b["l2"] <= b["sqrt_n_times_linf"] * slack).all()
    assert (b["sqrt_l0_times_linf"] <= b["sqrt_n_times_linf"] * slack).all()


@FEW
@given(shape=shapes, seed=seeds, density=st.floats(0.0, 1.0))
def test_equal_sized_changes_make_the_bounds_tight(shape, seed, density):
    g = torch.Generator().manual_seed(seed)
    size = torch.rand(shape[0], generator=g)
    signs = torch.randint(0, 2, shape, generator=g) * 2.0 - 1.0
    mask = torch.rand(shape, generator=g) < density
    delta = torch.where(mask, signs * per_example(size, shape), torch.zeros(shape))
    b = norms.norm_bounds(delta)
    assert torch.allclose(b["l2"], b["sqrt_l0_times_linf"], rtol=1e-5, atol=1e-6)


@FEW
@given(shape=shapes, seed=seeds, k=st.integers(1, 20))
def test_changing_k_pixels_moves_l2_by_at_most_sqrt_k(shape, seed, k):
    x = images(shape, seed)
    n = x[0].numel()
    k = min(k, n)
    g = torch.Generator().manual_seed(seed + 3)
    x_new = x.clone().reshape(shape[0], -1)
    for row in x_new:
        where = torch.randperm(n, generator=g)[:k]
        row[where] = torch.rand(k, generator=g).round()  # each chosen pixel to 0 or 1
    x_new = x_new.reshape(shape)
    moved = norms.l2(x_new - x)
    assert (norms.l0(x_new - x) <= k).all()
    assert (moved <= norms.l2_upper_bound_from_l0(k) + TOL).all()
    one = x.clone().reshape(shape[0], -1)
    one[:, 0] = 1.0 - one[:, 0]  # a single pixel, flipped
    assert (norms.l2(one.reshape(shape) - x) <= 1.0 + TOL).all()


@pytest.mark.parametrize("k", [1, 2, 9, 784])
def test_sqrt_k_is_attained(k):
    x = torch.zeros(2, 1, 28, 28)
    x_new = x.clone().reshape(2, -1)
    x_new[:, :k] = 1.0  # k black pixels turned white
    moved = norms.l2(x_new.reshape(x.shape) - x)
    assert norms.l2_upper_bound_from_l0(k) == pytest.approx(math.sqrt(k))
    assert torch.allclose(moved, torch.full((2,), math.sqrt(k)))
    counts = norms.l0(x_new.reshape(x.shape) - x)
    assert torch.allclose(norms.l2_upper_bound_from_l0(counts), moved)


# --- quantisation --------------------------------------------------------------------------------


def test_quantization_step_values():
    assert norms.quantization_step(1) == 1.0
    assert norms.quantization_step(2) == pytest.approx(1 / 3)
    assert norms.quantization_step(8) == pytest.approx(1 / 255)


@FEW
@given(shape=shapes, seed=seeds, bits=bit_depths)
def test_quantize_properties(shape, seed, bits):
    x = images(shape, seed)
    q = norms.quantize(x, bits)
    step = norms.quantization_step(bits)
    assert q.shape == x.shape and q.dtype == x.dtype
    assert q.unique().numel() <= 2**bits
    assert q.min() >= 0.0 and q.max() <= 1.0
    assert torch.equal(norms.quantize(q, bits), q)  # idempotent
    assert (q - x).abs().max() <= step / 2 + 1e-6
    levels = q * (2**bits - 1)
    assert torch.allclose(levels, levels.round(), atol=1e-4)  # every value is some j / (2**bits - 1)


def test_quantize_keeps_256_levels_at_8_bits():
    x = (torch.arange(256, dtype=torch.float32) / 255).reshape(1, 1, 16, 16)
    q = norms.quantize(x, 8)
    assert q.unique().numel() == 256
    assert torch.equal(q, x)
    assert norms.quantize(x, 1).unique().tolist() == [0.0, 1.0]


@FEW
@given(shape=shapes, seed=seeds, bits=bit_depths, fraction=st.floats(0.0, 0.49))
def test_sub_half_step_linf_perturbation_is_erased(shape, seed, bits, fraction):
    step = norms.quantization_step(bits)
    xq = norms.quantize(images(shape, seed), bits)
    eps = fraction * step
    g = torch.Generator().manual_seed(seed + 5)
    delta = (torch.rand(shape, generator=g) * 2 - 1) * eps
    attacked = (xq + delta).clamp(0.0, 1.0)
    assert (norms.linf(attacked - xq) < step / 2).all()
    assert torch.equal(norms.quantize(attacked, bits), xq)


@FEW
@given(shape=shapes, seed=seeds, bits=bit_depths)
def test_a_surviving_change_is_a_whole_step(shape, seed, bits):
    step = norms.quantization_step(bits)
    xq = norms.quantize(images(shape, seed), bits)
    push = torch.where(xq < 0.5, 1.0, -1.0) * 0.51 * step  # just over half a step, away from the nearer edge
    survived = norms.quantize(xq + push, bits) - xq
    assert torch.allclose(survived.abs(), torch.full_like(xq, step), atol=1e-6)
    assert torch.allclose(norms.l2(survived), torch.full((shape[0],), step * math.sqrt(xq[0].numel())), rtol=1e-5)


# --- unit balls ----------------------------------------------------------------------------------


def p_norm(points: torch.Tensor, p: str) -> torch.Tensor:
    if p == "l1":
        return points.abs().sum(-1)
    if p == "l2":
        return points.pow(2).sum(-1).sqrt()
    return points.abs().amax(-1)


@pytest.mark.parametrize("p", ["l1", "l2", "linf"])
def test_unit_ball_boundary_points_are_on_the_sphere(p):
    pts = norms.unit_ball_boundary(p, 361)
    assert pts.shape == (361, 2)
    assert torch.allclose(p_norm(pts, p), torch.ones(361), atol=TOL)
    assert torch.allclose(pts[0], pts[-1], atol=1e-6)  # closed curve
    corners = {"l1": [1.0, 0.0], "l2": [0.0, 1.0], "linf": [1.0, 1.0]}[p]
    assert (pts - torch.tensor(corners)).norm(dim=1).min() < 1e-5
    twice = norms.unit_ball_boundary(p, 50, radius=2.0)
    assert torch.allclose(p_norm(twice, p), torch.full((50,), 2.0), atol=TOL)


@pytest.mark.parametrize("p", ["l1", "l2", "linf"])
def test_unit_sphere_surface_points_are_on_the_sphere(p):
    X, Y, Z = norms.unit_sphere_surface(p, 21)
    assert X.shape == Y.shape == Z.shape == (21, 21)
    pts = torch.stack([X, Y, Z], dim=-1)
    assert torch.allclose(p_norm(pts, p), torch.ones(21, 21), atol=TOL)
    assert Z.max() == pytest.approx(1.0) and Z.min() == pytest.approx(-1.0)


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda d, x: norms.project_linf(d, -0.1), ValueError, "eps"),
        (lambda d, x: norms.project_l2(d, -1), ValueError, "eps"),
        (lambda d, x: norms.project(x, x, -0.5, "l2"), ValueError, "eps"),
        (lambda d, x: norms.project_l2(d, "big"), TypeError, "eps"),
        (lambda d, x: norms.project_linf(d, float("nan")), ValueError, "eps"),
        (lambda d, x: norms.norm(d, "l3"), ValueError, "p='l3'"),
        (lambda d, x: norms.norm(d, "L2"), ValueError, "p='L2'"),
        (lambda d, x: norms.project(x, x, 0.1, "l0"), ValueError, "p='l0'"),
        (lambda d, x: norms.unit_ball_boundary("l0"), ValueError, "p='l0'"),
        (lambda d, x: norms.unit_ball_boundary("l2", 2), ValueError, "n_points"),
        (lambda d, x: norms.unit_sphere_surface("l2", 10.5), TypeError, "n must"),
        (lambda d, x: norms.quantize(x, 0), ValueError, "bits"),
        (lambda d, x: norms.quantize(x, 9), ValueError, "bits"),
        (lambda d, x: norms.quantize(x, 4.0), TypeError, "bits"),
        (lambda d, x: norms.quantize(x, True), TypeError, "bits"),
        (lambda d, x: norms.quantization_step(0), ValueError, "bits"),
        (lambda d, x: norms.quantize(x + 0.5, 4), ValueError, r"x must have values in \[0, 1\]"),
        (lambda d, x: norms.quantize(x - 0.5, 4), ValueError, r"x must have values in \[0, 1\]"),
        (lambda d, x: norms.quantize(x.numpy(), 4), TypeError, "x must be a torch.Tensor"),
        (lambda d, x: norms.project(x, x + 2, 0.1, "linf"), ValueError, r"x must have values in \[0, 1\]"),
        (lambda d, x: norms.project(x[:1], x, 0.1, "linf"), ValueError, "x_adv must have the same shape"),
        (lambda d, x: norms.l2([1.0, 2.0]), TypeError, "delta must be a torch.Tensor"),
        (lambda d, x: norms.l0(d.long()), TypeError, "delta must be a floating-point"),
        (lambda d, x: norms.linf(torch.tensor(1.0)), ValueError, "delta must have a batch dimension"),
        (lambda d, x: norms.l0(d, tol=-1e-3), ValueError, "tol"),
        (lambda d, x: norms.l2_upper_bound_from_l0(-1), ValueError, "k must"),
        (lambda d, x: norms.l2_upper_bound_from_l0(torch.tensor([3, -1])), ValueError, "k must"),
    ],
)
def test_bad_input_names_the_parameter(call, error, match):
    d = torch.randn(2, 1, 4, 4)
    x = torch.rand(2, 1, 4, 4) * 0.4 + 0.3
    with pytest.raises(error, match=match):
        call(d, x)
