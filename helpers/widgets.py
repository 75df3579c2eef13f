"""Interactive figures. Each has a plain function that draws the figure (for static
views: GitHub, nbviewer, HTML) and a widget that calls it on every slider move.

Only the ipywidgets API shared by 7.7 (Colab) and 8 is used.
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

    def draw(sigma: float) -> None:
        noise_figure(model, image, sigma, label=label)
        plt.show()

    return widgets.interactive(draw, sigma=slider)
