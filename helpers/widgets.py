"""Interactive figures. Each has a plain function that draws the figure (for static
views: GitHub, nbviewer, HTML) and a widget that calls it on every slider move.

Only the ipywidgets API shared by 7.7 (Colab) and 8 is used. Each widget is an
``ipywidgets.interactive`` whose callback returns the figure it drew: ``widget.result``
holds the latest one (``interactive`` keeps it without displaying it, in 7.7 and 8 alike).
It first draws when built in 8 and when displayed in 7.7; tests/test_widget_versions.py
checks every widget under both.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import nn

from .checks import check_images, check_nonnegative
from .plots import plot_probabilities


def noisy(image: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    """``image`` plus Gaussian noise of standard deviation ``sigma``, clipped to [0,1]. Notebook 00."""
    check_images(image)
    check_nonnegative(sigma, "sigma")
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(seed))
    return (image + sigma * noise).clamp(0, 1)


def noise_figure(model: nn.Module, image: torch.Tensor, sigma: float, *, label: int | None = None) -> Figure:
    """The digit with noise of size ``sigma`` and the model's class probabilities. Notebook 00."""
    x = noisy(image, sigma)
    with torch.no_grad():
        probs = torch.softmax(model(x), dim=1)[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(7, 2.8), gridspec_kw={"width_ratios": [1, 1.6]})
    left.imshow(x[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
    left.set_title(f"noise sigma = {sigma:.2f}")
    left.axis("off")
    plot_probabilities(right, probs, true_class=label)
    right.set_title(f"predicted {probs.argmax().item()} with probability {probs.max().item():.2f}")
    fig.tight_layout()
    return fig


def noise_widget(model: nn.Module, image: torch.Tensor, *, label: int | None = None):
    """A slider for the noise level that redraws ``noise_figure``. Notebook 00."""
    import ipywidgets as widgets

    slider = widgets.FloatSlider(value=0.2, min=0.0, max=1.0, step=0.05, description="sigma",
                                 continuous_update=False)

    def draw(sigma: float) -> Figure:
        fig = noise_figure(model, image, sigma, label=label)
        plt.show()
        return fig

    return widgets.interactive(draw, sigma=slider)


def norm_budget_figure(
    model: nn.Module,
    image: torch.Tensor,
    label: int,
    norm: str = "linf",
    eps: float = 0.1,
    *,
    steps: int = 20,
) -> Figure:
    """PGD in the ``norm`` ball of radius ``eps`` on one digit: original, amplified perturbation,
    adversarial image and class probabilities, with the perturbation's L0, L2 and Linf norms. Notebook 04.

    ``norm`` is ``"linf"`` or ``"l2"``; the attack is ``helpers.attacks.pgd`` (untargeted,
    ``steps`` steps, one random start, seed 0), so the same arguments draw the same figure.
    """
    from .attacks import pgd
    from .norms import l0, l2, linf

    check_images(image)
    adv = pgd(model, image, torch.tensor([int(label)]), eps, norm=norm, steps=steps)
    delta = adv - image
    with torch.no_grad():
        probs = torch.softmax(model(adv), dim=1)[0]
    k, length, top = int(l0(delta)[0]), float(l2(delta)[0]), float(linf(delta)[0])
    fig, axes = plt.subplots(1, 4, figsize=(10, 2.9), gridspec_kw={"width_ratios": [1, 1, 1, 1.6]})
    axes[0].imshow(image[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(f"original ({label})")
    m = max(top, 1e-12)
    axes[1].imshow(delta[0, 0].numpy(), cmap="RdBu_r", vmin=-m, vmax=m)
    axes[1].set_title(f"perturbation x{1 / m:.0f}" if top > 0 else "no perturbation")
    axes[2].imshow(adv[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
    axes[2].set_title("adversarial")
    for ax in axes[:3]:
        ax.axis("off")
    plot_probabilities(axes[3], probs, true_class=int(label))
    axes[3].set_title(f"predicted {int(probs.argmax())} with probability {float(probs.max()):.2f}", fontsize=10)
    name = {"linf": "Linf", "l2": "L2"}[norm]
    fig.suptitle(f"PGD-{name}, eps = {eps:.2f}:   L0 = {k} pixels,   L2 = {length:.2f},   Linf = {top:.2f}", fontsize=11)
    fig.tight_layout()
    return fig


def _follow_norm(norm_box, eps_box, ranges: dict[str, tuple[float, float, float]]) -> None:
    """When the norm dropdown changes, give the budget slider that norm's (max, step, start).

    The order of the assignments keeps the value inside [min, max] at every moment (an
    ipywidgets slider clips a value outside its range), in ipywidgets 7 and 8 alike.
    """

    def set_range(change: dict) -> None:
        top, step, start = ranges[change["new"]]
        if top > eps_box.max:
            eps_box.max, eps_box.step, eps_box.value = top, step, start
        else:
            eps_box.value, eps_box.step, eps_box.max = start, step, top

    norm_box.observe(set_range, names="value")


def norm_budget_widget(model: nn.Module, image: torch.Tensor, label: int, *, steps: int = 20):
    """A norm dropdown (Linf or L2) and a budget slider that redraw ``norm_budget_figure``. Notebook 04.

    Switching the norm resets the slider to that norm's range: eps in [0, 0.3] for
    Linf, [0, 4] for L2 (an L2 budget is about ten times an Linf budget of similar
    effect on MNIST).
    """
    import ipywidgets as widgets

    ranges = {"linf": (0.3, 0.01, 0.1), "l2": (4.0, 0.1, 2.0)}
    norm = widgets.Dropdown(options=[("Linf", "linf"), ("L2", "l2")], value="linf", description="norm")
    eps = widgets.FloatSlider(value=0.1, min=0.0, max=0.3, step=0.01, description="eps", continuous_update=False)

    _follow_norm(norm, eps, ranges)

    def draw(norm: str, eps: float) -> Figure:
        fig = norm_budget_figure(model, image, label, norm, eps, steps=steps)
        plt.show()
        return fig

    return widgets.interactive(draw, norm=norm, eps=eps)


UNTARGETED = -1
"""The value of ``attack_figure``'s ``target`` for an untargeted attack. Notebook 02."""


def attack_figure(
    model: nn.Module,
    image: torch.Tensor,
    label: int,
    norm: str = "linf",
    eps: float = 0.2,
    target: int = UNTARGETED,
    *,
    steps: int = 20,
    restarts: int = 1,
) -> Figure:
    """PGD on one digit, untargeted (``target=-1``) or towards ``target``: the original, the
    perturbation amplified, the adversarial image and the class probabilities before and
    after. Notebook 02.

    The attack is ``helpers.attacks.pgd`` (``norm`` ``"linf"`` or ``"l2"``, budget ``eps``,
    ``steps`` steps, ``restarts`` runs, seed 0), so the same arguments draw the same figure.
    """
    from .attacks import pgd
    from .plots import show_attack

    check_images(image)
    check_nonnegative(eps, "eps")
    target = int(target)
    targeted = target != UNTARGETED
    goal = torch.tensor([target if targeted else int(label)])
    adv = pgd(model, image, goal, eps, norm=norm, steps=steps, restarts=restarts, targeted=targeted)
    name = {"linf": "Linf", "l2": "L2"}[norm]
    aim = f"targeted at {target}" if targeted else "untargeted"
    title = f"PGD-{name}, eps = {eps:.2f}, {aim} ({steps} steps, {restarts} run{'s' if restarts > 1 else ''})"
    return show_attack(model, image, adv, label=int(label), title=title)


def attack_widget(
    model: nn.Module,
    image: torch.Tensor,
    label: int,
    *,
    norm: str = "linf",
    eps: float = 0.2,
    target: int = UNTARGETED,
    steps: int = 20,
):
    """A budget slider, a norm dropdown (Linf or L2) and a target dropdown (untargeted or a
    class) that redraw ``attack_figure``, starting from ``norm``, ``eps`` and ``target``. Notebook 02.

    Switching the norm resets the slider to that norm's range: eps in [0, 0.3] for Linf
    (starting at 0.2), [0, 3] for L2 (starting at 2.0).
    """
    import ipywidgets as widgets

    ranges = {"linf": (0.3, 0.01, 0.2), "l2": (3.0, 0.1, 2.0)}
    top, step, _ = ranges[norm]
    norm_box = widgets.Dropdown(options=[("Linf", "linf"), ("L2", "l2")], value=norm, description="norm")
    eps_box = widgets.FloatSlider(value=min(float(eps), top), min=0.0, max=top, step=step, description="budget",
                                  continuous_update=False)
    target_box = widgets.Dropdown(options=[("untargeted", UNTARGETED)] + [(str(c), c) for c in range(10)],
                                  value=int(target), description="target")

    _follow_norm(norm_box, eps_box, ranges)

    def draw(norm: str, eps: float, target: int) -> Figure:
        fig = attack_figure(model, image, label, norm, eps, target, steps=steps)
        plt.show()
        return fig

    return widgets.interactive(draw, norm=norm_box, eps=eps_box, target=target_box)


def best_l0_attack(
    model: nn.Module,
    image: torch.Tensor,
    label: int,
    pixels: int,
    *,
    targeted: bool = False,
    iterations: int = 300,
    seed: int = 0,
) -> torch.Tensor:
    """The best few-pixel attack on one digit within ``pixels`` changed pixels. Notebook 03.

    Runs both L0 attacks of ``helpers.attacks.l0_attack`` at this budget (``"greedy"``,
    8 candidates; ``"random_search"``, ``iterations`` iterations, seed ``seed``) and keeps
    a success with the fewest changed pixels, else the result with the larger margin (the
    nearer miss). ``label`` is the true class, or the target with ``targeted=True``.
    """
    from .attacks import l0_attack, margin

    check_images(image)
    goal = torch.tensor([int(label)])
    best, best_key = image.clone(), None
    for method in ("greedy", "random_search"):
        adv = l0_attack(model, image, goal, max_pixels=int(pixels), targeted=targeted, method=method,
                        iterations=iterations, seed=seed)
        with torch.no_grad():
            m = float(margin(model(adv), goal, targeted)[0])
        changed = int((adv != image).sum())
        key = (m > 0, -changed if m > 0 else m)
        if best_key is None or key > best_key:
            best, best_key = adv, key
    return best


def l0_budget_figure(
    model: nn.Module,
    image: torch.Tensor,
    label: int,
    pixels: int = 8,
    target: int = UNTARGETED,
    *,
    iterations: int = 300,
) -> Figure:
    """The best attack on one digit within a budget of ``pixels`` changed pixels: the original,
    the change (changed pixels outlined, red brighter, blue darker), the result and the class
    probabilities before and after, re-predicted here. Notebook 03.

    Untargeted with ``target=-1`` (``UNTARGETED``), else aimed at ``target``; the attack is
    ``best_l0_attack``, so the same arguments draw the same figure.
    """
    import numpy as np

    from .plots import mark_changed_pixels

    target = int(target)
    targeted = target != UNTARGETED
    adv = best_l0_attack(model, image, target if targeted else int(label), int(pixels), targeted=targeted,
                         iterations=iterations)
    with torch.no_grad():
        before = torch.softmax(model(image), dim=1)[0]
        after = torch.softmax(model(adv), dim=1)[0]
    delta = (adv - image)[0, 0].detach().cpu()
    k = int((delta != 0).sum())
    fig, axes = plt.subplots(1, 4, figsize=(11, 3.0), gridspec_kw={"width_ratios": [1, 1, 1, 1.9]})
    axes[0].imshow(image[0, 0].detach().cpu().numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(f"original: read as {int(before.argmax())}\n(p = {float(before.max()):.2f})", fontsize=9)
    axes[1].imshow(delta.numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    mark_changed_pixels(axes[1], image, adv)
    axes[1].set_title(f"the change: {k} pixel{'s' if k != 1 else ''}", fontsize=9)
    axes[2].imshow(adv[0, 0].detach().cpu().numpy(), cmap="gray", vmin=0, vmax=1)
    mark_changed_pixels(axes[2], image, adv, linewidth=0.8)
    axes[2].set_title(f"result: read as {int(after.argmax())}\n(p = {float(after.max()):.2f})", fontsize=9)
    for ax in axes[:3]:
        ax.set_xticks([])
        ax.set_yticks([])
    ax = axes[3]
    classes = np.arange(len(after))
    ax.bar(classes - 0.2, before.cpu().numpy(), width=0.4, color="tab:gray", label="original")
    ax.bar(classes + 0.2, after.cpu().numpy(), width=0.4, color="tab:red", label="attacked")
    ax.set_ylim(0, 1.3)  # headroom: the legend sits above the bars, never on them
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
    ax.set_xticks(classes)
    ax.set_xlabel("class")
    ax.set_ylabel("probability")
    ax.legend(fontsize=8, loc="upper center", ncol=2, frameon=False)
    aim = f"targeted at {target}" if targeted else "untargeted"
    fooled = (int(after.argmax()) == target) if targeted else (int(after.argmax()) != int(label))
    fig.suptitle(f"best of greedy and random search within {int(pixels)} pixels, {aim}: "
                 f"{'success' if fooled else 'not fooled'}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def l0_budget_widget(
    model: nn.Module,
    image: torch.Tensor,
    label: int,
    *,
    pixels: int = 8,
    target: int = UNTARGETED,
    max_pixels: int = 30,
):
    """A pixel-budget slider (0 to ``max_pixels``) and a target dropdown (untargeted or a
    class) that redraw ``l0_budget_figure``. Notebook 03.
    """
    import ipywidgets as widgets

    budget = widgets.IntSlider(value=int(pixels), min=0, max=int(max_pixels), step=1, description="pixels",
                               continuous_update=False)
    aim = widgets.Dropdown(options=[("untargeted", UNTARGETED)] + [(str(c), c) for c in range(10)],
                           value=int(target), description="target")

    def draw(pixels: int, target: int) -> Figure:
        fig = l0_budget_figure(model, image, label, pixels, target)
        plt.show()
        return fig

    return widgets.interactive(draw, pixels=budget, target=aim)


def attack_direction(model: nn.Module, image: torch.Tensor, label: int, *, reach: float = 3.0) -> torch.Tensor:
    """A unit L2 direction from ``image`` towards an adversarial example: PGD-L2 with budget
    ``reach`` (40 steps, 3 runs, seed 0), normalised. Notebook 06 walks along it."""
    from .attacks import pgd

    check_images(image)
    check_nonnegative(reach, "reach")
    adv = pgd(model, image, torch.tensor([int(label)]), reach, norm="l2", steps=40, restarts=3)
    step = adv - image
    return step / step.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)


def walk_figure(
    model: nn.Module,
    image: torch.Tensor,
    label: int,
    distance: float,
    direction: torch.Tensor,
    *,
    bound: float | None = None,
    reach: float = 3.0,
    points: int = 61,
) -> Figure:
    """Walk ``distance`` (L2) from ``image`` along ``direction`` and read the certainty:
    the image there, the class probabilities, and the probability of ``label`` along the
    whole walk with the current point marked. With ``bound`` (an upper bound on the
    Lipschitz constant of the logits), the essay's criterion is drawn too: the
    probability may fall at most ``bound / 2`` per unit of L2. Notebook 06.

    The walk is clamped to [0, 1] pixel by pixel, so past the box it bends; its distance is
    measured along the line before clamping.
    """
    check_images(image)
    check_nonnegative(distance, "distance")
    steps = torch.linspace(0, reach, points)
    line = (image + steps.view(-1, 1, 1, 1) * direction).clamp(0, 1)
    here = (image + float(distance) * direction).clamp(0, 1)
    with torch.no_grad():
        curve = torch.softmax(model(line), dim=1)[:, int(label)]
        probs = torch.softmax(model(here), dim=1)[0]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.0), gridspec_kw={"width_ratios": [1, 1.6, 2.2]})
    axes[0].imshow(here[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(f"L2 distance {float(distance):.2f}: read as {int(probs.argmax())}", fontsize=9)
    axes[0].axis("off")
    plot_probabilities(axes[1], probs, true_class=int(label))
    ax = axes[2]
    ax.plot(steps.numpy(), curve.numpy(), color="tab:blue", label=f"probability of {int(label)}")
    ax.axvline(float(distance), color="black", linestyle=":", linewidth=1)
    ax.plot([float(distance)], [float(probs[int(label)])], "ko")
    if bound is not None:
        floor = (curve[0] - bound / 2 * steps).clamp(min=0)
        ax.plot(steps.numpy(), floor.numpy(), color="tab:red", linestyle="--",
                label=f"lowest the criterion allows (K = {bound / 2:.2f})")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("L2 distance walked")
    ax.set_ylabel("certainty")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def walk_widget(
    model: nn.Module,
    image: torch.Tensor,
    label: int,
    *,
    bound: float | None = None,
    reach: float = 3.0,
    distance: float = 1.0,
):
    """A distance slider (0 to ``reach``) that redraws ``walk_figure`` along the attack
    direction of ``attack_direction`` (computed once, here). Notebook 06."""
    import ipywidgets as widgets

    direction = attack_direction(model, image, label, reach=reach)
    slider = widgets.FloatSlider(value=float(distance), min=0.0, max=float(reach), step=0.05, description="distance",
                                 continuous_update=False)

    def draw(distance: float) -> Figure:
        fig = walk_figure(model, image, label, distance, direction, bound=bound, reach=reach)
        plt.show()
        return fig

    return widgets.interactive(draw, distance=slider)


ZOOM_RANGE = (0.2, 5.0)
"""The zoom factors ``zoom_figure`` and ``zoom_widget`` cover by default: far away to close-up. Notebook 07."""


def zoom_figure(
    model: nn.Module,
    image: torch.Tensor,
    label: int,
    factor: float,
    *,
    factors: torch.Tensor | None = None,
) -> Figure:
    """One digit zoomed by ``factor`` (``helpers.data.zoom``: < 1 far away, > 1 close-up):
    the zoomed image, the model's class probabilities, and the certainty of ``label`` over a
    range of zoom factors (log scale) with the current factor marked. For comparison the
    soft-label schedule is drawn too: the probability ``data.soft_labels`` gives the true
    class, ``c + (1 - c) / 10`` with ``c = data.zoom_certainty(factor)``. Notebook 07.

    ``factors`` are the zoom factors of the curve (default: 41 log-spaced from 0.2 to 5).
    ``image`` (``[1,1,28,28]``) is not modified.
    """
    from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

    from .data import zoom, zoom_certainty

    check_images(image)
    if image.shape[0] != 1:
        raise ValueError(f"image must be one digit [1,1,28,28], got shape {list(image.shape)}")
    factor = float(factor)
    if factors is None:
        lo, hi = ZOOM_RANGE
        factors = torch.logspace(torch.log10(torch.tensor(lo)), torch.log10(torch.tensor(hi)), 41)
    factors = torch.as_tensor(factors, dtype=torch.float32).flatten()
    label = int(label)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        here = zoom(image, factor)
        probs = torch.softmax(model(here), dim=1)[0]
        curve = torch.softmax(model(torch.cat([zoom(image, float(f)) for f in factors])), dim=1)[:, label]
    model.train(was_training)
    classes = probs.numel()
    schedule = zoom_certainty(factors.double())
    target = schedule + (1 - schedule) / classes
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.0), gridspec_kw={"width_ratios": [1, 1.6, 2.4]})
    axes[0].imshow(here[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(f"zoom x{factor:.2f}: read as {int(probs.argmax())}", fontsize=9)
    axes[0].axis("off")
    plot_probabilities(axes[1], probs, true_class=label)
    axes[1].set_title(f"probability of {label}: {float(probs[label]):.2f}", fontsize=9)
    ax = axes[2]
    ax.plot(factors.numpy(), curve.numpy(), color="tab:blue", marker=".", label=f"model: probability of {label}")
    ax.plot(factors.numpy(), target.float().numpy(), color="tab:green", linestyle="--",
            label="soft label: c + (1 - c) / 10")
    ax.axvline(factor, color="black", linestyle=":", linewidth=1)
    ax.plot([factor], [float(probs[label])], "ko")
    ax.set_xscale("log")
    ticks = [t for t in (0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10) if float(factors.min()) <= t <= float(factors.max())]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("zoom factor (< 1 far away, > 1 close-up)")
    ax.set_ylabel("certainty")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7, loc="lower center")
    fig.tight_layout()
    return fig


def zoom_widget(model: nn.Module, image: torch.Tensor, label: int, *, factor: float = 1.0):
    """A zoom slider on a log scale (0.2 to 5, starting at ``factor``) that redraws
    ``zoom_figure``; it redraws when the slider is let go. Notebook 07."""
    import math

    import ipywidgets as widgets

    lo, hi = ZOOM_RANGE
    slider = widgets.FloatLogSlider(value=min(max(float(factor), lo), hi), base=10, min=math.log10(lo),
                                    max=math.log10(hi), step=0.01, description="zoom", readout_format=".2f",
                                    continuous_update=False)

    def draw(factor: float) -> Figure:
        fig = zoom_figure(model, image, label, factor)
        plt.show()
        return fig

    return widgets.interactive(draw, factor=slider)


def _sweep_label(row: dict) -> str:
    size = "P" if row["grouping"] == "lines" else int(row["group_size"])
    hidden = f"{row['hidden']:g}" if isinstance(row["hidden"], float) else str(row["hidden"])
    extra = (", shared" if row["shared"] in (True, "True") else "") + (
        f", noise {row['noise']:g}" if row["noise"] else "") + (f", {hidden} hidden" if hidden != "32" else "")
    grid = " (grid)" if row.get("placement") == "grid" else ""
    return f"{row['grouping']}{grid} s={size} R={int(row['repetitions'])}{extra}, {row['readout']} vote"


def sweep_digit_figure(row: dict, example: dict, image: torch.Tensor, label: int) -> Figure:
    """One point of the wiring sweep on one digit: the digit, the cheapest attack the course's
    L0 attacks found on it (changed pixels ringed: red made brighter, blue darker) and the
    certificate. ``row`` is a row of ``sweep.read()``, ``example`` one of its
    ``sweep.examples()``. Notebook 10."""
    check_images(image)
    adv = image.clone().view(-1)
    adv[example["changed"]] = torch.tensor(example["values"], dtype=adv.dtype)
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.8))
    axes[0].imshow(image.view(28, 28), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(f"digit {label}; certified: {example['certified']} pixels")
    axes[1].imshow(adv.view(28, 28), cmap="gray", vmin=0, vmax=1)
    flat = image.view(-1)
    for i in example["changed"]:
        colour = "red" if adv[i] > flat[i] else "deepskyblue"
        axes[1].add_patch(plt.Circle((i % 28, i // 28), 0.9, fill=False, color=colour, lw=1.5))
    found = example["pixels"]
    attack = (f"attack: {int(found)} pixels, read as {example['read_as']}" if found != float("inf") and found > 0
              else "already misread" if found == 0 else f"attack: none found within {int(row['max_pixels'])} pixels")
    axes[1].set_title(attack)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{_sweep_label(row)}: clean {100 * row['clean']:.1f}%, median certified "
                 f"{row['median_certified']:.0f} (ceiling {row['ceiling']:.1f})", fontsize=10)
    fig.tight_layout()
    return fig


def sweep_widget(rows: list[dict], shown: dict, images: torch.Tensor, labels: torch.Tensor, *, digit: int = 0):
    """A slider along the sweep's frontier (``rows``, ordered by clean accuracy) and one over
    the digits kept with each point; redraws ``sweep_digit_figure``. Notebook 10."""
    import ipywidgets as widgets

    options = [(_sweep_label(r), i) for i, r in enumerate(rows)]
    point = widgets.SelectionSlider(options=options, value=len(rows) - 1, description="point",
                                    continuous_update=False, layout=widgets.Layout(width="90%"))
    which = widgets.IntSlider(value=int(digit), min=0, max=len(images) - 1, step=1, description="digit",
                              continuous_update=False)

    def draw(point: int, digit: int) -> Figure:
        row = rows[point]
        example = shown[f"{row['key']}|{row['readout']}"][digit]
        fig = sweep_digit_figure(row, example, images[digit : digit + 1], int(labels[digit]))
        plt.show()
        return fig

    return widgets.interactive(draw, point=point, digit=which)
