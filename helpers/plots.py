"""Figures the notebooks draw: digits, confusion matrices, confidence histograms.

Every function returns the matplotlib Figure it drew; notebooks call ``plt.show()``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure


def show_digits(
    x: torch.Tensor,
    titles: list[str] | None = None,
    *,
    ncols: int = 10,
    size: float = 1.2,
    suptitle: str | None = None,
) -> Figure:
    """A grid of 28x28 digits with optional per-image titles. Notebooks 00, 01."""
    n = len(x)
    nrows = max(1, (n + ncols - 1) // ncols)
    title_lines = max((t.count("\n") + 1 for t in titles), default=0) if titles else 0
    height = nrows * size * (1.0 + 0.17 * title_lines) + (0.4 if suptitle else 0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, height), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(x[i, 0].detach().cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_confusion(matrix: torch.Tensor, *, title: str = "confusion matrix") -> Figure:
    """A confusion matrix (rows: true class, columns: predicted) with counts written in. Notebook 01."""
    m = matrix.cpu().numpy()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(np.log1p(m), cmap="Blues")
    k = m.shape[0]
    for i in range(k):
        for j in range(k):
            if m[i, j]:
                ax.text(j, i, str(int(m[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if i == j else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_confidence_histogram(confidence: torch.Tensor, correct: torch.Tensor, *, bins: int = 20) -> Figure:
    """Histogram of the top-class probability, split into right and wrong predictions. Notebook 01."""
    conf = confidence.cpu().numpy()
    ok = correct.cpu().numpy().astype(bool)
    edges = np.linspace(0, 1, bins + 1)
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.hist(conf[ok], bins=edges, label=f"correct ({ok.sum()})", color="tab:blue", alpha=0.8)
    ax.hist(conf[~ok], bins=edges, label=f"wrong ({(~ok).sum()})", color="tab:red", alpha=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("probability of the predicted class")
    ax.set_ylabel("images (log scale)")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_probabilities(ax: plt.Axes, probs: torch.Tensor, *, true_class: int | None = None) -> None:
    """Bar chart of 10 class probabilities on ``ax``; the top class in red, the true one outlined."""
    p = probs.detach().cpu().numpy()
    colors = ["tab:red" if i == p.argmax() else "tab:gray" for i in range(len(p))]
    bars = ax.bar(range(len(p)), p, color=colors)
    if true_class is not None:
        bars[true_class].set_edgecolor("black")
        bars[true_class].set_linewidth(2)
    ax.set_ylim(0, 1)
    ax.set_xticks(range(len(p)))
    ax.set_xlabel("class")
    ax.set_ylabel("probability")


def show_perturbations(
    x: torch.Tensor,
    advs: dict[str, torch.Tensor],
    *,
    preds: dict[str, str] | None = None,
    size: float = 1.7,
) -> Figure:
    """One digit and, for each attack, its adversarial image and its perturbation drawn twice. Notebook 04.

    ``x`` is one image ``[1,1,28,28]``; ``advs`` maps a row label (an attack's name) to
    its adversarial image of the same shape. Each row shows the adversarial image, the
    perturbation ``delta = adv - x`` on the common scale [-1, 1] (so rows can be compared
    by eye: faint means small per pixel), and the same perturbation amplified to its own
    largest change (so its shape can be seen). Red is brighter, blue darker. Each row is
    labelled with its attack's name, with the perturbation's L0, L2 and Linf norms written
    beneath it; ``preds`` adds a note per row (e.g. the predicted class).
    """
    from .norms import l0, l2, linf

    rows = len(advs)
    fig, axes = plt.subplots(rows, 3, figsize=(3 * size + 1.0, rows * (size + 0.6)), squeeze=False)
    for r, (name, adv) in enumerate(advs.items()):
        delta = (adv - x).detach().cpu()
        k, length, top = int(l0(delta)[0]), float(l2(delta)[0]), float(linf(delta)[0])
        img, true_scale, amplified = axes[r]
        img.imshow(adv[0, 0].detach().cpu().numpy(), cmap="gray", vmin=0, vmax=1)
        img.set_ylabel(name, fontsize=9)
        note = f", {preds[name]}" if preds and name in preds else ""
        img.set_title(f"adversarial{note}", fontsize=8)
        true_scale.imshow(delta[0, 0].numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
        true_scale.set_title("perturbation, scale +-1", fontsize=8)
        m = max(top, 1e-12)
        amplified.imshow(delta[0, 0].numpy(), cmap="RdBu_r", vmin=-m, vmax=m)
        amplified.set_title(f"amplified x{1 / m:.0f}" if top > 0 else "no change", fontsize=8)
        true_scale.text(0.5, -0.12, f"L0 = {k}   L2 = {length:.2f}   Linf = {top:.2f}", transform=true_scale.transAxes,
                        ha="center", va="top", fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig


def _probabilities(model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.softmax(model(x), dim=1)[0]


def show_attack(
    model,
    x: torch.Tensor,
    x_adv: torch.Tensor,
    *,
    label: int | None = None,
    title: str | None = None,
) -> Figure:
    """One attacked digit: the original, the perturbation amplified, the adversarial image and
    the class probabilities before and after (re-predicted here). Notebook 02.

    ``x`` and ``x_adv`` are single images ``[1,1,28,28]``. The perturbation ``x_adv - x``
    is drawn on a symmetric colour scale stretched to its largest change (red brighter,
    blue darker); its L2 and Linf sizes are written beneath it. ``label`` outlines the
    true class's bars.
    """
    delta = (x_adv - x).detach().cpu()
    before, after = _probabilities(model, x), _probabilities(model, x_adv)
    top = float(delta.abs().max())
    fig, axes = plt.subplots(1, 4, figsize=(11, 3.3 if title else 3.0), gridspec_kw={"width_ratios": [1, 1, 1, 1.9]})
    axes[0].imshow(x[0, 0].detach().cpu().numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(f"original: read as {int(before.argmax())}\n(p = {float(before.max()):.2f})", fontsize=9)
    m = max(top, 1e-12)
    axes[1].imshow(delta[0, 0].numpy(), cmap="RdBu_r", vmin=-m, vmax=m)
    axes[1].set_title(f"perturbation, amplified x{1 / m:.0f}" if top > 0 else "no perturbation", fontsize=9)
    axes[1].text(0.5, -0.06, f"L2 = {float(delta.norm()):.2f}, Linf = {top:.2f}", transform=axes[1].transAxes,
                 ha="center", va="top", fontsize=8)
    axes[2].imshow(x_adv[0, 0].detach().cpu().numpy(), cmap="gray", vmin=0, vmax=1)
    axes[2].set_title(f"adversarial: read as {int(after.argmax())}\n(p = {float(after.max()):.2f})", fontsize=9)
    for ax in axes[:3]:
        ax.set_xticks([])
        ax.set_yticks([])
    ax = axes[3]
    k = len(after)
    ax.bar(np.arange(k) - 0.2, before.cpu().numpy(), width=0.4, color="tab:gray", label="original")
    bars = ax.bar(np.arange(k) + 0.2, after.cpu().numpy(), width=0.4, color="tab:red", label="adversarial")
    if label is not None:
        bars[int(label)].set_edgecolor("black")
        bars[int(label)].set_linewidth(1.5)
    ax.set_ylim(0, 1.05)
    ax.set_xticks(range(k))
    ax.set_xlabel("class")
    ax.set_ylabel("probability")
    ax.legend(fontsize=8, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.9) if title else None)
    return fig


def show_glasses(
    model,
    delta: torch.Tensor,
    images: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    target: int | None = None,
    title: str | None = None,
) -> Figure:
    """The glasses alone and a row of digits without and with them, with the model's
    predictions (re-predicted here; a title is red where the prediction is ``target``). Notebook 02.

    ``delta`` is the glasses ``[1,1,28,28]`` (zero outside ``mask``, whose band is outlined);
    ``images`` are the digits to put them on ``[n,1,28,28]``, drawn in one row each.
    """
    from matplotlib.patches import Rectangle

    n = len(images)
    worn = (images + delta.reshape(1, 1, 28, 28)).clamp(0, 1)
    with torch.no_grad():
        p_plain = torch.softmax(model(images), dim=1)
        p_worn = torch.softmax(model(worn), dim=1)
    fig = plt.figure(figsize=(2.4 + 1.15 * n, 3.2))
    grid = fig.add_gridspec(2, n + 2, width_ratios=[2.0, 0.25] + [1] * n)
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(delta.reshape(28, 28).detach().cpu().numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    if mask is not None:
        rows = torch.nonzero(mask.reshape(28, 28).any(dim=1))[:, 0]
        cols = torch.nonzero(mask.reshape(28, 28).any(dim=0))[:, 0]
        ax.add_patch(Rectangle((int(cols[0]) - 0.5, int(rows[0]) - 0.5), int(cols[-1] - cols[0]) + 1,
                               int(rows[-1] - rows[0]) + 1, fill=False, edgecolor="black", linestyle="--"))
    ax.set_title("the glasses\n(red: brighter, blue: darker)", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    for i in range(n):
        for r, (img, p) in enumerate(((images[i], p_plain[i]), (worn[i], p_worn[i]))):
            a = fig.add_subplot(grid[r, i + 2])
            a.imshow(img[0].detach().cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            a.set_xticks([])
            a.set_yticks([])
            c = int(p.argmax())
            a.set_title(f"{c} (p={float(p.max()):.2f})", fontsize=8,
                        color="tab:red" if target is not None and c == target else "black")
            if i == 0:
                a.set_ylabel("wearing them" if r else "without", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_budget(
    curves: dict[str, tuple[list[float], list[float]]],
    *,
    xlabel: str,
    title: str,
    ax: plt.Axes | None = None,
) -> Figure:
    """Accuracy (in %) against attack budget, one line per attack. Notebook 02.

    ``curves`` maps a legend label to ``(budgets, accuracies)``, accuracies as fractions in
    [0, 1]. Draws on ``ax`` if given (returns its figure), else on a new figure.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
    else:
        fig = ax.figure
    for (name, (budgets, acc)), marker in zip(curves.items(), "osd^vx"):
        ax.plot(list(budgets), [100 * float(a) for a in acc], marker=marker, markersize=4, label=name)
    ax.set_ylim(-3, 103)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------
# notebook 03: a few pixels (L0)
# ----------------------------------------------------------------------------


def mark_changed_pixels(ax: plt.Axes, x: torch.Tensor, x_adv: torch.Tensor, *, linewidth: float = 1.2) -> int:
    """Outline every pixel where ``x_adv`` differs from ``x`` on ``ax``: red where it was made
    brighter, blue where darker. Returns the number of pixels marked. Notebook 03.

    ``x`` and ``x_adv`` hold one 28x28 image each (``[1,1,28,28]``, ``[1,28,28]`` or ``[28,28]``).
    """
    from matplotlib.patches import Rectangle

    a = x.detach().cpu().reshape(28, 28)
    b = x_adv.detach().cpu().reshape(28, 28)
    rows, cols = torch.nonzero(a != b, as_tuple=True)
    for r, c in zip(rows.tolist(), cols.tolist()):
        color = "red" if b[r, c] > a[r, c] else "dodgerblue"
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor=color, linewidth=linewidth))
    return len(rows)


def show_l0_examples(
    model,
    x: torch.Tensor,
    x_adv: torch.Tensor,
    *,
    targets: torch.Tensor | None = None,
    size: float = 1.55,
    title: str | None = None,
) -> Figure:
    """Few-pixel attacks on several digits: each original above its adversarial image with the
    changed pixels outlined (red brighter, blue darker). Notebook 03.

    Both rows are re-predicted here with ``model``; the titles give the prediction (and its
    probability) and, below, the number of changed pixels. ``targets`` (one class per image)
    adds the class each attack aimed for.
    """
    n = len(x)
    with torch.no_grad():
        p0 = torch.softmax(model(x), dim=1)
        p1 = torch.softmax(model(x_adv), dim=1)
    fig, axes = plt.subplots(2, n, figsize=(n * size, 2 * size + 0.9), squeeze=False)
    for i in range(n):
        top, bottom = axes[0, i], axes[1, i]
        top.imshow(x[i, 0].detach().cpu().numpy(), cmap="gray", vmin=0, vmax=1)
        top.set_title(f"read as {int(p0[i].argmax())} ({float(p0[i].max()):.2f})", fontsize=8)
        bottom.imshow(x_adv[i, 0].detach().cpu().numpy(), cmap="gray", vmin=0, vmax=1)
        k = mark_changed_pixels(bottom, x[i], x_adv[i])
        aim = f", target {int(targets[i])}" if targets is not None else ""
        bottom.set_title(f"read as {int(p1[i].argmax())} ({float(p1[i].max()):.2f})\n{k} pixels{aim}", fontsize=8)
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("original", fontsize=9)
    axes[1, 0].set_ylabel("attacked", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_pixel_heatmap(x: torch.Tensor, x_adv: torch.Tensor, *, title: str | None = None) -> Figure:
    """Where few-pixel attacks put their pixels: over a batch, how often each pixel was made
    brighter and how often darker, beside the batch's average digit. Notebook 03.

    ``x`` and ``x_adv`` are ``[B,1,28,28]``; pass only the successful attacks. Counts are
    drawn as a share of the ``B`` images.
    """
    diff = (x_adv - x).detach().cpu()[:, 0]
    n = max(len(diff), 1)
    brighter = (diff > 0).float().sum(0) / n
    darker = (diff < 0).float().sum(0) / n
    top = max(float(brighter.max()), float(darker.max()), 1e-6)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    axes[0].imshow(x.detach().cpu()[:, 0].mean(0).numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(f"average of the {len(diff)} digits", fontsize=9)
    for ax, share, name, cmap in ((axes[1], brighter, "made brighter", "Reds"), (axes[2], darker, "made darker", "Blues")):
        im = ax.imshow(share.numpy(), cmap=cmap, vmin=0, vmax=top)
        ax.set_title(f"{name}: share of images", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_success_vs_pixels(
    found: dict[str, torch.Tensor],
    *,
    max_pixels: int,
    title: str,
    ax: plt.Axes | None = None,
) -> Figure:
    """Attack success (in %) against the pixel budget, one line per entry. Notebook 03.

    ``found`` maps a legend label to the pixels each image needed (``inf`` where the attack
    found nothing), as ``helpers.attacks.min_pixels`` returns them; success at budget ``k``
    is the share of images that needed at most ``k``. Draws on ``ax`` if given.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
    else:
        fig = ax.figure
    budgets = np.arange(0, max_pixels + 1)
    for (name, pixels), style in zip(found.items(), ("-", "--", ":", "-.", "-", "--")):
        p = pixels.detach().cpu().numpy()
        ax.plot(budgets, [100 * float(np.mean(p <= k)) for k in budgets], style, label=name)
    ax.set_ylim(-3, 103)
    ax.set_xlim(0, max_pixels)
    ax.set_xlabel("pixel budget (changed pixels)")
    ax.set_ylabel("attack success (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_pixels_vs_outputs(
    ms: list[int],
    quartiles: dict[str, list[tuple[float, float, float]]],
    *,
    max_pixels: int,
    title: str | None = None,
) -> Figure:
    """Pixels needed against the number of outputs m: medians with the middle half (quartiles)
    as bars, one series per entry, beside the line y = m (Shamir et al.'s count for a linear
    region). Notebook 03.

    ``quartiles`` maps a label to one ``(q25, median, q75)`` per m; ``inf`` (the attack
    found nothing within ``max_pixels``) is drawn at ``max_pixels``, where a dotted line
    marks the search budget.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ms_arr = np.asarray(ms, dtype=float)
    for k, ((name, qs), marker) in enumerate(zip(quartiles.items(), "osd^")):
        q = np.minimum(np.asarray(qs, dtype=float), max_pixels)
        shift = (k - (len(quartiles) - 1) / 2) * 0.15
        ax.errorbar(ms_arr + shift, q[:, 1], yerr=[q[:, 1] - q[:, 0], q[:, 2] - q[:, 1]], marker=marker,
                    capsize=3, label=f"{name}: median and quartiles")
    ax.plot(ms_arr, ms_arr, "k--", label="y = m (the linear-region count: enough, not needed)")
    ax.axhline(max_pixels, color="tab:gray", linestyle=":", label=f"search budget ({max_pixels} pixels)")
    ax.set_xticks(ms)
    ax.set_ylim(0, max_pixels + 2)
    ax.set_xlabel("number of outputs (classes) m")
    ax.set_ylabel("pixels needed")
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
