"""Every course widget redraws its figure for new control values, under ipywidgets 8 (the
.venv's, checked in this process) and 7.7.1 (what Colab ships, checked in a subprocess).

Each widget is built as its notebook builds it; its controls are set as a reader's
slider or dropdown would set them; the figure the callback returns (``widget.result``)
must show the new values, and what it says is re-checked against the model. A callback
that raises leaves the old figure in place (ipywidgets only logs the error), which
``redraw`` reports.

``test_under_ipywidgets_7_7_1`` installs ipywidgets 7.7.1 once into
``.venv/ipywidgets-7.7.1`` and runs this file again with that folder first on PYTHONPATH.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from helpers import caper, certainty, data, digits, models, sweep, widgets  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COLAB_VERSION = "7.7.1"
# ipywidgets 7.7.1 imports ipython_genutils; widgetsnbextension and jupyterlab_widgets are
# front-end files only, and ipykernel, IPython, traitlets and comm come from the .venv.
COLAB_PACKAGES = (f"ipywidgets=={COLAB_VERSION}", "ipython_genutils==0.2.0")
CACHE = ROOT / ".venv" / f"ipywidgets-{COLAB_VERSION}"
EXPECTED = "SMUDGE_EXPECT_IPYWIDGETS"  # set for the subprocess run: the version it must import

pytestmark = pytest.mark.filterwarnings("ignore:FigureCanvasAgg is non-interactive:UserWarning")


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: single-image attacks are fastest so, and far faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    yield
    plt.close("all")


# --- reading a widget and its figure ---------------------------------------------------


def controls(widget: ipywidgets.interactive) -> dict[str, ipywidgets.ValueWidget]:
    """The widget's controls by the label the reader sees (``description``)."""
    return {c.description: c for c in widget.children if isinstance(c, ipywidgets.ValueWidget)}


def first_figure(widget: ipywidgets.interactive) -> Figure:
    """The figure a notebook shows first: ipywidgets 8 draws it when the widget is built,
    7.7 when the widget is displayed (done here as a kernel's ``display`` does)."""
    if int(ipywidgets.__version__.split(".")[0]) < 8:
        assert widget.result is None, "ipywidgets 7 should not draw before the widget is displayed"
        widget._ipython_display_()
    assert isinstance(widget.result, Figure), "the callback drew no figure (see the logged exception)"
    return widget.result


def redraw(widget: ipywidgets.interactive, **values: object) -> Figure:
    """Set controls (by description, in order) and return the figure the callback drew last."""
    boxes = controls(widget)
    before = widget.result
    for name, value in values.items():
        assert boxes[name].value != value, f"{name} is already {value!r}: no change, no redraw"
        boxes[name].value = value
        assert boxes[name].value == value, f"{name} did not take {value!r}"
    fig = widget.result
    assert isinstance(fig, Figure) and fig is not before, (
        f"no new figure after setting {values} (ipywidgets logs the callback's exception)")
    return fig


def shown(ax: plt.Axes) -> torch.Tensor:
    """The image drawn on ``ax``, as a [1,1,28,28] batch."""
    return torch.from_numpy(np.asarray(ax.images[0].get_array(), dtype=np.float32)).reshape(1, 1, 28, 28)


def probabilities(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.softmax(model(x), dim=1)[0]


def read_as(title: str) -> int:
    """The class a title says the model reads ("read as 3", "predicted 3")."""
    found = re.search(r"(?:read as|predicted) (\d+)", title)
    assert found, f"no predicted class in {title!r}"
    return int(found.group(1))


def slider_range(box: ipywidgets.FloatSlider) -> tuple[float, float, float]:
    return box.max, box.step, box.value


# --- inputs, as the notebooks make them -----------------------------------------------


@pytest.fixture(scope="module")
def digit(test_split) -> tuple[torch.Tensor, int]:
    x, y = test_split
    return x[:1], int(y[0])


@pytest.fixture(scope="module")
def thief(test_split) -> torch.Tensor:
    return caper.cast(*test_split)[0][:1]


# --- the six widgets ------------------------------------------------------------------


def test_noise_widget(cnn, digit) -> None:
    """Notebook 00: the sigma slider redraws the digit with that much noise and its prediction."""
    image, label = digit
    w = widgets.noise_widget(cnn, image, label=label)
    assert first_figure(w).axes[0].get_title() == "noise sigma = 0.20"
    fig = redraw(w, sigma=0.65)
    left, right = fig.axes
    assert left.get_title() == "noise sigma = 0.65"
    x = shown(left)
    assert torch.equal(x, widgets.noisy(image, 0.65))
    probs = probabilities(cnn, x)
    assert read_as(right.get_title()) == int(probs.argmax())
    assert np.allclose([bar.get_height() for bar in right.patches], probs.numpy(), atol=1e-6)


def check_attack(fig: Figure, model: torch.nn.Module, image: torch.Tensor, title: str, norm: str, eps: float) -> None:
    """``attack_figure``: the title, the budget kept, the adversarial image's class as predicted."""
    assert fig.get_suptitle().startswith(title), fig.get_suptitle()
    original, _, adversarial, _ = fig.axes
    assert torch.equal(shown(original), image)
    adv = shown(adversarial)
    size = (adv - image).abs().max() if norm == "linf" else (adv - image).norm()
    assert 0 < size <= eps + 1e-5 and adv.min() >= 0 and adv.max() <= 1
    assert read_as(adversarial.get_title()) == int(probabilities(model, adv).argmax())


def test_attack_widget(cnn, thief) -> None:
    """Notebook 02: norm, budget and target redraw the attack; the norm re-ranges the budget."""
    w = widgets.attack_widget(cnn, thief, caper.THIEF, norm="l2", eps=2.0, target=caper.CEO, steps=10)
    budget = controls(w)["budget"]
    assert slider_range(budget) == (3.0, 0.1, 2.0)
    check_attack(first_figure(w), cnn, thief, f"PGD-L2, eps = 2.00, targeted at {caper.CEO} (10 steps", "l2", 2.0)

    fig = redraw(w, norm="linf")
    assert slider_range(budget) == (0.3, 0.01, 0.2)
    check_attack(fig, cnn, thief, f"PGD-Linf, eps = 0.20, targeted at {caper.CEO}", "linf", 0.2)

    fig = redraw(w, budget=0.05, target=widgets.UNTARGETED)
    check_attack(fig, cnn, thief, "PGD-Linf, eps = 0.05, untargeted", "linf", 0.05)

    fig = redraw(w, norm="l2")
    assert slider_range(budget) == (3.0, 0.1, 2.0)
    check_attack(fig, cnn, thief, "PGD-L2, eps = 2.00, untargeted", "l2", 2.0)


def check_l0(fig: Figure, model: torch.nn.Module, image: torch.Tensor, label: int, pixels: int, target: int) -> None:
    """``l0_budget_figure``: at most ``pixels`` changed, counted three ways; the verdict re-predicted."""
    aim = "untargeted" if target == widgets.UNTARGETED else f"targeted at {target}"
    assert f"within {pixels} pixels, {aim}: " in fig.get_suptitle(), fig.get_suptitle()
    original, change, result, _ = fig.axes
    assert torch.equal(shown(original), image)
    adv = shown(result)
    changed = int((adv != image).sum())
    assert changed <= pixels
    assert change.get_title() == f"the change: {changed} pixel{'s' if changed != 1 else ''}"
    assert len(change.patches) == changed  # the outlined pixels
    seen = int(probabilities(model, adv).argmax())
    assert read_as(result.get_title()) == seen
    fooled = seen == target if target != widgets.UNTARGETED else seen != label
    assert fig.get_suptitle().endswith("success" if fooled else "not fooled")


def test_l0_budget_widget(cnn, digit) -> None:
    """Notebook 03: the pixel budget and the target redraw the best few-pixel attack."""
    image, label = digit
    w = widgets.l0_budget_widget(cnn, image, label, pixels=6)
    check_l0(first_figure(w), cnn, image, label, 6, widgets.UNTARGETED)
    check_l0(redraw(w, pixels=3), cnn, image, label, 3, widgets.UNTARGETED)
    check_l0(redraw(w, target=5), cnn, image, label, 3, 5)
    fig = redraw(w, pixels=0)
    check_l0(fig, cnn, image, label, 0, 5)
    assert fig.axes[1].get_title() == "the change: 0 pixels"


def check_norms(fig: Figure, model: torch.nn.Module, image: torch.Tensor, name: str, eps: float) -> None:
    """``norm_budget_figure``: the title's budget and norms are those of the drawn perturbation."""
    original, _, adversarial, bars = fig.axes
    assert torch.equal(shown(original), image)
    delta = shown(adversarial) - image
    l0, l2, linf = int((delta != 0).sum()), float(delta.norm()), float(delta.abs().max())
    sizes = f"L0 = {l0} pixels,   L2 = {l2:.2f},   Linf = {linf:.2f}"
    assert fig.get_suptitle() == f"PGD-{name}, eps = {eps:.2f}:   {sizes}"
    assert 0 < (linf if name == "Linf" else l2) <= eps + 1e-5
    assert read_as(bars.get_title()) == int(probabilities(model, shown(adversarial)).argmax())


def test_norm_budget_widget(cnn, digit) -> None:
    """Notebook 04: the norm and the budget redraw PGD; the norm re-ranges the budget slider."""
    image, label = digit
    w = widgets.norm_budget_widget(cnn, image, label, steps=10)
    eps = controls(w)["eps"]
    check_norms(first_figure(w), cnn, image, "Linf", 0.1)
    check_norms(redraw(w, eps=0.25), cnn, image, "Linf", 0.25)
    fig = redraw(w, norm="l2")
    assert slider_range(eps) == (4.0, 0.1, 2.0)
    check_norms(fig, cnn, image, "L2", 2.0)
    fig = redraw(w, norm="linf")
    assert slider_range(eps) == (0.3, 0.01, 0.1)
    check_norms(fig, cnn, image, "Linf", 0.1)


def check_walk(fig: Figure, model: torch.nn.Module, image: torch.Tensor, label: int, distance: float) -> None:
    """``walk_figure``: the image at most ``distance`` away, read as the model reads it, marked on the curve."""
    here, _, curve = fig.axes
    x = shown(here)
    assert float((x - image).norm()) <= distance + 1e-5
    probs = probabilities(model, x)
    assert here.get_title() == f"L2 distance {distance:.2f}: read as {int(probs.argmax())}"
    (mark,) = [line for line in curve.lines if line.get_marker() == "o"]
    assert mark.get_xdata()[0] == pytest.approx(distance)
    assert mark.get_ydata()[0] == pytest.approx(float(probs[label]), abs=1e-6)
    assert any(t.get_text().startswith("lowest the criterion allows") for t in curve.get_legend().get_texts())


def test_walk_widget(test_split) -> None:
    """Notebook 06: the distance slider walks along the attack direction of the Lipschitz CNN."""
    lip = models.load_pretrained("lipschitz_cnn")
    bound = certainty.lipschitz_upper_bound(lip)
    x, y = test_split
    image, label = x[:1], int(y[0])
    w = widgets.walk_widget(lip, image, label, bound=bound, distance=1.5)
    check_walk(first_figure(w), lip, image, label, 1.5)
    fig = redraw(w, distance=2.4)
    check_walk(fig, lip, image, label, 2.4)
    assert not torch.equal(shown(fig.axes[0]), image)
    fig = redraw(w, distance=0.0)
    check_walk(fig, lip, image, label, 0.0)
    assert torch.equal(shown(fig.axes[0]), image)


def check_zoom(fig: Figure, model: torch.nn.Module, image: torch.Tensor, label: int, factor: float) -> None:
    """``zoom_figure``: the digit zoomed by ``factor`` and the model's reading of it."""
    here, bars, _ = fig.axes
    x = shown(here)
    assert torch.equal(x, data.zoom(image, factor))
    probs = probabilities(model, x)
    assert here.get_title() == f"zoom x{factor:.2f}: read as {int(probs.argmax())}"
    assert bars.get_title() == f"probability of {label}: {float(probs[label]):.2f}"


def test_zoom_widget(digit) -> None:
    """Notebook 07: the log-scale zoom slider's value is the factor itself, in both versions."""
    augmented = models.load_pretrained("cnn_augmented")
    image, label = digit
    w = widgets.zoom_widget(augmented, image, label, factor=0.5)
    check_zoom(first_figure(w), augmented, image, label, 0.5)
    check_zoom(redraw(w, zoom=2.0), augmented, image, label, 2.0)
    check_zoom(redraw(w, zoom=0.3), augmented, image, label, 0.3)


def test_sweep_widget() -> None:
    """Notebook 10: the frontier slider and the digit slider redraw a point's certificate and
    its cheapest attack, which changes exactly the recorded pixels."""
    rows = sweep.frontier(sweep.read())
    if not rows:
        pytest.skip("results/sweep.csv not yet generated")
    shown_examples = sweep.examples()
    images, labels, _ = digits.sample(sweep.EXAMPLES, 0)
    w = widgets.sweep_widget(rows, shown_examples, images, labels)
    first_figure(w)
    fig = redraw(w, point=0, digit=2)
    example = shown_examples[f"{rows[0]['key']}|{rows[0]['readout']}"][2]
    left, right = fig.axes
    assert left.get_title().endswith(f"certified: {example['certified']} pixels")
    assert torch.equal(shown(left), images[2:3])
    changed = (shown(right) != images[2:3]).flatten().nonzero().squeeze(1).tolist()
    assert changed == sorted(example["changed"])
    assert f"clean {100 * rows[0]['clean']:.1f}%" in fig.get_suptitle()


# --- which ipywidgets, and the run under 7.7.1 ------------------------------------------


def test_ipywidgets_version() -> None:
    """This run imports the version it is meant to check: 8 here, 7.7.1 in the subprocess."""
    expected = os.environ.get(EXPECTED)
    if expected:
        assert ipywidgets.__version__ == expected, f"imported {ipywidgets.__file__}"
    else:
        major = ipywidgets.__version__.split(".")[0]
        assert major == "8", f"the in-process run checks ipywidgets 8, got {ipywidgets.__version__}"


def install_colab_ipywidgets() -> Path:
    """ipywidgets 7.7.1 in ``CACHE`` (installed once, into a temporary folder renamed when complete)."""
    if CACHE.is_dir():
        return CACHE
    CACHE.parent.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{CACHE.name}-", dir=CACHE.parent))
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(folder),
                          "--retries", "1", "--timeout", "30", *COLAB_PACKAGES], capture_output=True, text=True)
    if pip.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        reason = f"pip could not install {' '.join(COLAB_PACKAGES)}:\n{(pip.stdout + pip.stderr)[-1500:]}"
        if "No matching distribution found" in pip.stderr and not os.environ.get("CI"):
            pytest.skip(f"no package index reachable; {reason}")
        pytest.fail(reason)
    try:
        folder.rename(CACHE)
    except OSError:  # another run installed it meanwhile
        shutil.rmtree(folder, ignore_errors=True)
    return CACHE


def test_under_ipywidgets_7_7_1() -> None:
    """Every check above, again in a subprocess that imports ipywidgets 7.7.1."""
    if os.environ.get(EXPECTED):
        pytest.skip("this is the subprocess run")
    cache = install_colab_ipywidgets()
    path = os.pathsep.join(p for p in (str(cache), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, EXPECTED: COLAB_VERSION}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "--tb=short", "-p", "no:cacheprovider", __file__],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = run.stdout + run.stderr
    checks = sum(name.startswith("test_") for name in globals()) - 1  # all but this one
    assert run.returncode == 0 and f"{checks} passed, 1 skipped" in out, out[-6000:]
