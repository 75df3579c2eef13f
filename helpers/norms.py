"""Measuring perturbations: the L0, L2 and Linf norms, projections, bounds, quantisation.

Taught in notebook 04 (norms), which follows the norms sidebar at the end of the
essay: L0 counts changed pixels, L2 is the essay's "One True Norm", Linf is the
largest change to any one pixel, and dropping low-order bits (quantisation)
turns a small Linf change into either nothing or a change of a whole step.

Every function takes a *batch*: a perturbation ``delta`` of shape ``[B, ...]``
is measured one example at a time and gives a tensor of shape ``[B]``.

For a perturbation with ``n`` entries of which ``k`` are nonzero, each entry in
[-1, 1] (the difference of two images with pixels in [0, 1]):

    linf <= l2 <= sqrt(l0) * linf <= sqrt(k)        and        l2 <= sqrt(n) * linf

so changing ``k`` pixels of an image in [0, 1] moves it by at most ``sqrt(k)``
in L2, and that is attained by turning ``k`` black pixels white.

Nothing happens on import.
"""
from __future__ import annotations

import math
from numbers import Integral

import torch

from helpers.checks import check_choice, check_images, check_nonnegative

NORMS = ("l0", "l2", "linf")
"""The norms :func:`norm` measures and the attacks accept."""

BALL_NORMS = ("l1", "l2", "linf")
"""The norms whose unit balls notebook 04 draws (the L0 "ball" is not a ball)."""

PROJECTABLE_NORMS = ("linf", "l2")
"""The norms :func:`project` can project onto."""


# --- input checks ------------------------------------------------------------------------------


def _check_batch(delta: object, name: str = "delta") -> torch.Tensor:
    """A floating-point tensor ``[B, ...]`` (at least one dimension, the batch)."""
    if not isinstance(delta, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [B, ...], got {type(delta).__name__}")
    if not delta.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {delta.dtype}")
    if delta.dim() < 1:
        raise ValueError(f"{name} must have a batch dimension, shape [B, ...], got a 0-d tensor")
    return delta


def _check_unit_range(x: object, name: str) -> torch.Tensor:
    """A floating-point tensor ``[B, ...]`` with every value in [0, 1]."""
    x = _check_batch(x, name)
    return check_images(x, name, shape=tuple(x.shape[1:]))


def _check_bits(bits: object) -> int:
    """An ``int`` from 1 to 8 (``bool`` is not accepted)."""
    if isinstance(bits, bool) or not isinstance(bits, Integral):
        raise TypeError(f"bits must be an int from 1 to 8, got {type(bits).__name__}")
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be an int from 1 to 8, got {bits}")
    return int(bits)


def _check_count(value: object, name: str) -> int:
    """An ``int`` >= 3 (points along a curve or grid side)."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int >= 3, got {type(value).__name__}")
    if value < 3:
        raise ValueError(f"{name} must be an int >= 3, got {value}")
    return int(value)


def _flat(delta: torch.Tensor) -> torch.Tensor:
    """``[B, ...]`` -> ``[B, n]``: one row per example."""
    return delta.reshape(delta.shape[0], -1)


# --- the three norms ---------------------------------------------------------------------------


def l0(delta: torch.Tensor, tol: float = 0.0) -> torch.Tensor:
    """How many entries of each example changed: the count of ``|delta| > tol``, as ``Tensor[B]`` (long).

    For 1-channel images such as MNIST an entry is a pixel, so this is the
    number of changed pixels. (For C-channel images it counts channel values;
    count pixels with ``(delta.abs() > tol).any(dim=1)`` instead.) A small
    ``tol`` ignores changes too small to matter, e.g. float round-off.

    Taught in notebook 04 (norms sidebar: L0 is "a very weak and artificial criterion").
    """
    delta = _check_batch(delta)
    tol = check_nonnegative(tol, "tol")
    return (_flat(delta).abs() > tol).sum(dim=1)


def l2(delta: torch.Tensor) -> torch.Tensor:
    """The Euclidean length of each example, ``sqrt(sum delta**2)``, as ``Tensor[B]``.

    Taught in notebook 04 (norms sidebar: L2 is the essay's "One True Norm").
    """
    delta = _check_batch(delta)
    return torch.linalg.vector_norm(_flat(delta), ord=2, dim=1)


def linf(delta: torch.Tensor) -> torch.Tensor:
    """The largest absolute change in each example, ``max |delta|``, as ``Tensor[B]`` (0 for no entries).

    Taught in notebook 04 (norms sidebar: defending in Linf is "profoundly misguided").
    """
    delta = _check_batch(delta)
    flat = _flat(delta)
    if flat.shape[1] == 0:
        return flat.new_zeros(flat.shape[0])
    return flat.abs().amax(dim=1)


def norm(delta: torch.Tensor, p: str, *, tol: float = 0.0) -> torch.Tensor:
    """The per-example norm named by ``p`` (``"l0"``, ``"l2"`` or ``"linf"``); ``tol`` is for L0 only.

    Taught in notebook 04 (one perturbation measured three ways).
    """
    p = check_choice(p, "p", NORMS)
    if p == "l0":
        return l0(delta, tol=tol)
    return l2(delta) if p == "l2" else linf(delta)


# --- projections onto balls --------------------------------------------------------------------


def project_linf(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """The nearest point of the Linf ball of radius ``eps``: clamp every entry to [-eps, eps].

    Taught in notebook 04 (and used by PGD-Linf in notebook 02).
    """
    delta = _check_batch(delta)
    eps = check_nonnegative(eps, "eps")
    return delta.clamp(-eps, eps)


def project_l2(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """The nearest point of the L2 ball of radius ``eps``, per example.

    Examples already inside the ball are returned unchanged; those outside are
    scaled down along their own direction until their L2 norm is ``eps``.

    Taught in notebook 04 (and used by PGD-L2 in notebook 02).
    """
    delta = _check_batch(delta)
    eps = check_nonnegative(eps, "eps")
    lengths = l2(delta)
    outside = lengths > eps
    # Only rows with lengths > eps >= 0 use the quotient, so the clamp never changes a used value.
    scale = torch.where(outside, eps / lengths.clamp_min(torch.finfo(lengths.dtype).tiny), torch.ones_like(lengths))
    return delta * scale.reshape(-1, *([1] * (delta.dim() - 1)))


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float, p: str) -> torch.Tensor:
    """Pull ``x_adv`` back into the ``p``-ball of radius ``eps`` around ``x`` and into the box [0, 1].

    ``x`` must have values in [0, 1]; ``x_adv`` (same shape) may lie anywhere.
    The result lies in the ball around ``x`` *and* in [0, 1].

    - ``p="linf"``: exact. Ball and box are both boxes, so their intersection is
      the box ``[max(x - eps, 0), min(x + eps, 1)]`` and clamping to it is the
      nearest point.
    - ``p="l2"``: scale-then-clamp. First scale ``x_adv - x`` into the L2 ball
      (:func:`project_l2`), then clamp ``x + delta`` to [0, 1]. Since ``x`` is in
      [0, 1], clamping only moves entries towards ``x``, so the result stays
      inside the ball. It is *not* always the nearest point of the intersection
      (that needs an iterative solver), but it is what PGD-L2 uses in practice.

    Taught in notebook 04 (and used by the attacks of notebook 02).
    """
    x = _check_unit_range(x, "x")
    x_adv = _check_batch(x_adv, "x_adv")
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv must have the same shape as x, {list(x.shape)}, got {list(x_adv.shape)}")
    eps = check_nonnegative(eps, "eps")
    p = check_choice(p, "p", PROJECTABLE_NORMS)
    if p == "linf":
        return torch.clamp(x_adv, min=(x - eps).clamp_min(0.0), max=(x + eps).clamp_max(1.0))
    delta = project_l2(x_adv - x, eps)
    return (x + delta).clamp(0.0, 1.0)


# --- bounds between the norms ------------------------------------------------------------------


def norm_bounds(delta: torch.Tensor) -> dict[str, torch.Tensor]:
    """The quantities in the chain of bounds, per example, each a float ``Tensor[B]``.

    Keys: ``"n"`` (entries per example), ``"l0"`` (nonzero entries, k),
    ``"linf"``, ``"l2"``, ``"sqrt_l0_times_linf"``, ``"sqrt_n_times_linf"``,
    ``"sqrt_l0"``. For every perturbation

        linf <= l2 <= sqrt_l0_times_linf        and        l2 <= sqrt_n_times_linf

    and when every entry is in [-1, 1] (a difference of images in [0, 1]),
    also ``sqrt_l0_times_linf <= sqrt_l0``: k changed pixels move L2 by at most
    sqrt(k). The first inequality is tight for a single changed entry, the
    others when all changed entries have the same size.

    Taught in notebook 04 (bounds between norms).
    """
    delta = _check_batch(delta)
    count = l0(delta).to(delta.dtype)
    largest = linf(delta)
    n = torch.full_like(largest, float(_flat(delta).shape[1]))
    return {
        "n": n,
        "l0": count,
        "linf": largest,
        "l2": l2(delta),
        "sqrt_l0_times_linf": count.sqrt() * largest,
        "sqrt_n_times_linf": n.sqrt() * largest,
        "sqrt_l0": count.sqrt(),
    }


def l2_upper_bound_from_l0(k: float | torch.Tensor) -> float | torch.Tensor:
    """The most that changing ``k`` pixels of an image in [0, 1] can move it in L2: ``sqrt(k)``.

    Each changed pixel moves by at most 1, so ``l2 <= sqrt(k * 1**2)``; turning
    ``k`` black pixels white attains it. Accepts a number or a tensor of counts
    (e.g. ``l2_upper_bound_from_l0(l0(delta))``).

    Taught in notebook 04 (bounds between norms).
    """
    if isinstance(k, torch.Tensor):
        if k.numel() and (torch.isnan(k).any() or k.min() < 0):
            raise ValueError("k must hold pixel counts >= 0")
        return (k if k.is_floating_point() else k.to(torch.get_default_dtype())).sqrt()
    return math.sqrt(check_nonnegative(k, "k"))


# --- quantisation: dropping low-order bits -----------------------------------------------------


def quantization_step(bits: int) -> float:
    """The gap between neighbouring levels when [0, 1] is stored with ``bits`` bits: ``1 / (2**bits - 1)``.

    Taught in notebook 05 (quantisation / low-order bits).
    """
    return 1.0 / (2 ** _check_bits(bits) - 1)


def quantize(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Round images in [0, 1] to the nearest of the ``2**bits`` levels ``j / (2**bits - 1)``.

    ``bits`` is an int from 1 to 8; ``bits=8`` keeps the 256 levels of an 8-bit
    image, fewer bits drop the low-order bits. Each value moves by at most half
    a step (:func:`quantization_step`), and quantising twice changes nothing.

    The essay's claim ("force an Linf norm change to make a meaningful L2 norm
    change ... by dropping some of the low-order information"): quantisation
    erases any Linf perturbation smaller than half a step, for every pixel that
    is not within that distance of a rounding boundary. Pixels that are already
    on a level (an image that was quantised before) are as far from a boundary
    as can be, so there a perturbation with ``linf < step / 2`` is erased
    exactly. To survive, a perturbation must push some pixels across a boundary,
    and each pixel that crosses then changes by a whole step or more. So what
    reaches the network after quantisation is a perturbation of ``k`` pixels
    with L2 at least ``step * sqrt(k)``: a small Linf change becomes either
    nothing or a larger, more meaningful L2 change. The price is that the
    dropped bits were information, and clean images change too (by up to
    ``step / 2`` per pixel).

    Taught in notebook 05 (quantisation / low-order bits).
    """
    x = _check_unit_range(x, "x")
    levels = 2 ** _check_bits(bits) - 1
    return torch.round(x * levels) / levels


# --- points for drawing unit balls -------------------------------------------------------------


def _to_sphere(directions: torch.Tensor, p: str, radius: float) -> torch.Tensor:
    """Scale each nonzero row of ``directions`` ``[N, d]`` to length ``radius`` in the ``p`` norm."""
    if p == "l1":
        lengths = directions.abs().sum(dim=1)
    elif p == "l2":
        lengths = torch.linalg.vector_norm(directions, dim=1)
    else:
        lengths = directions.abs().amax(dim=1)
    return directions * (radius / lengths).unsqueeze(1)


def unit_ball_boundary(p: str, n_points: int = 361, *, radius: float = 1.0) -> torch.Tensor:
    """Points on the 2-D sphere ``||v||_p = radius`` for ``p`` in ``"l1"``, ``"l2"``, ``"linf"``: ``Tensor[n_points, 2]``.

    The points go once round the origin at evenly spaced angles, the first
    equal to the last, so ``plt.plot(*pts.T)`` draws a closed curve. With the
    default 361 points (one per degree) the corners of the L1 diamond and the
    Linf square are among them. L0 is not accepted: its "ball" is the two axes.

    Taught in notebook 04 (unit balls in 2-D).
    """
    p = check_choice(p, "p", BALL_NORMS)
    _check_count(n_points, "n_points")
    radius = check_nonnegative(radius, "radius")
    angles = torch.linspace(0.0, 2 * math.pi, int(n_points), dtype=torch.float64)
    directions = torch.stack([angles.cos(), angles.sin()], dim=1)
    return _to_sphere(directions, p, radius).float()


def unit_sphere_surface(p: str, n: int = 49, *, radius: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A grid on the 3-D sphere ``||v||_p = radius`` for a surface plot: ``(X, Y, Z)``, each ``[n, n]``.

    Rows run over the polar angle (0 to pi), columns over the azimuth (0 to
    2 pi); each direction is scaled to length ``radius`` in the ``p`` norm, so
    L1 gives an octahedron, L2 a ball and Linf a cube. Use with
    ``ax.plot_surface(X, Y, Z)`` on a ``projection="3d"`` axis.

    Taught in notebook 04 (unit balls in 3-D).
    """
    p = check_choice(p, "p", BALL_NORMS)
    _check_count(n, "n")
    radius = check_nonnegative(radius, "radius")
    polar = torch.linspace(0.0, math.pi, int(n), dtype=torch.float64)
    azimuth = torch.linspace(0.0, 2 * math.pi, int(n), dtype=torch.float64)
    theta, phi = torch.meshgrid(polar, azimuth, indexing="ij")
    directions = torch.stack([theta.sin() * phi.cos(), theta.sin() * phi.sin(), theta.cos()], dim=-1)
    points = _to_sphere(directions.reshape(-1, 3), p, radius).float().reshape(int(n), int(n), 3)
    return points[..., 0], points[..., 1], points[..., 2]
