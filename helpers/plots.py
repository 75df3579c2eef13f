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
