"""The L0 figures of notebook 03 on a larger sample than the notebook can afford.

    python benchmarks/l0_headline.py            # everything (about half an hour of one CPU core)
    python benchmarks/l0_headline.py --quick    # 100 images, 30 per model: a few minutes
    python benchmarks/l0_headline.py --parts 24 # only parts [2] and [4]

Prints, for the baseline CNN ("cnn") on 1,000 correctly classified test digits (a fixed
random sample, seed 0): the pixels each needs for an untargeted change, a targeted change
to (y + 1) % 10, and a targeted change to the runner-up class (the CNN's second choice on
the clean digit); per method (greedy, random search) and the minimum over both, as
``helpers.attacks.min_pixels`` finds them: success within 10 and 20 pixels, quartiles.
Every adversarial image behind a count is re-checked independently: re-predicted, its
changed pixels counted against the count, its range checked. Then the pixels needed vs
the number of classes m for "cnn_m2".."cnn_m9" and "cnn" (100 digits of each model's own
classes), and the same exact solve on the softmax-regression model as the notebook.
Runs on one thread (a shared machine; small batches gain little from more).
"""
from __future__ import annotations

import argparse
import time

import torch

from helpers import attacks, data, linear_region, models, train

GREEDY = dict(candidates=8, loss="ce")
SEARCH = dict(iterations=1000, patience=200, prune=True)
MAX_PIXELS = 40  # search budget; "within 20" is read off the counts


def sample(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, n: int, classes: int, seed: int = 0):
    """The first ``n`` digits of a fixed random order that are of classes < ``classes`` and classified right."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    order = order[y[order] < classes]
    right = train.predict(model, x[order]).argmax(1) == y[order]
    pick = order[right][:n]
    return x[pick], y[pick]


def quartiles(p: torch.Tensor) -> str:
    """Quartiles of pixel counts; a quartile among the failures reads '>MAX'."""
    s = p.sort().values
    out = []
    for q in (0.25, 0.5, 0.75):
        v = s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]
        out.append(f">{MAX_PIXELS}" if torch.isinf(v) else f"{v:.0f}")
    return "/".join(out)


def verify(model, x, x_adv, labels, targeted, pixels) -> None:
    """Independent re-check of every success: prediction, pixel count, range."""
    ok = torch.isfinite(pixels)
    with torch.no_grad():
        pred = model(x_adv[ok]).argmax(1)
    fooled = (pred == labels[ok]) if targeted else (pred != labels[ok])
    changed = (x_adv[ok] != x[ok]).flatten(1).sum(1)
    assert bool(fooled.all()), "a reported success does not fool the model"
    assert bool((changed <= pixels[ok]).all()), "a reported success changes more pixels than reported"
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1, "an image left [0, 1]"


def attack(model, x, labels, targeted: bool) -> dict[str, torch.Tensor]:
    found = {}
    for method, kw in (("greedy", GREEDY), ("random_search", SEARCH)):
        p, adv = attacks.min_pixels(model, x, labels, targeted=targeted, methods=(method,), max_pixels=MAX_PIXELS,
                                    return_images=True, seed=0, **kw)
        verify(model, x, adv, labels, targeted, p)
        found[method] = p
    found["min of both"] = torch.minimum(found["greedy"], found["random_search"])
    return found


def report(name: str, found: dict[str, torch.Tensor]) -> None:
    for method, p in found.items():
        print(f"  {name:<22} {method:<14} within 10: {(p <= 10).float().mean():6.1%}   within 20: "
              f"{(p <= 20).float().mean():6.1%}   quartiles {quartiles(p)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 images and 30 per model")
    parser.add_argument("--parts", default="1234", help="which parts to run, e.g. 24 (default: all)")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    n_head, n_model = (100, 30) if args.quick else (1000, 100)
    start = time.perf_counter()
    x_all, y_all = data.load_dataset("mnist", "test", source="bundled", verbose=False)
    print(f"settings: greedy {GREEDY}; random search {SEARCH}; search budget {MAX_PIXELS} pixels")

    cnn = models.load_pretrained("cnn")
    x, y = sample(cnn, x_all, y_all, n_head, 10)
    with torch.no_grad():
        runner_up = cnn(x).scatter(1, y[:, None], float("-inf")).argmax(1)
    if "1" in args.parts:
        print(f"\n[1] baseline CNN, {len(x)} correctly classified test digits")
        report("untargeted", attack(cnn, x, y, False))
        report("target (y+1) % 10", attack(cnn, x, (y + 1) % 10, True))
        report("target runner-up", attack(cnn, x, runner_up, True))
        print(f"  ({time.perf_counter() - start:.0f} s so far)", flush=True)

    if "2" in args.parts:
        part2(x_all, y_all, n_model)
        print(f"  ({time.perf_counter() - start:.0f} s so far)", flush=True)
    if "3" in args.parts:
        part3(x, y)
    if "4" in args.parts:
        part4(cnn, x, y)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


def part2(x_all: torch.Tensor, y_all: torch.Tensor, n_model: int) -> None:
    """Pixels needed vs the number of classes m (min of both methods)."""
    print(f"\n[2] pixels needed vs number of classes m, {n_model} digits per model (min of both methods)")
    for m in range(2, 11):
        name = "cnn" if m == 10 else f"cnn_m{m}"
        model = models.load_pretrained(name)
        xm, ym = sample(model, x_all, y_all, n_model, m)
        un = attack(model, xm, ym, False)["min of both"]
        tg = attack(model, xm, (ym + 1) % m, True)["min of both"]
        print(f"  m = {m:>2} ({name:<6}) untargeted quartiles {quartiles(un):<10} targeted (y+1)%m quartiles "
              f"{quartiles(tg):<10} failures {int(torch.isinf(un).sum())}/{int(torch.isinf(tg).sum())}", flush=True)


def part3(x: torch.Tensor, y: torch.Tensor) -> None:
    """The exact solve of notebook 03 on softmax regression."""
    print(f"\n[3] softmax regression, exact solve (solve_few_pixels, margin 1), target (y+1) % 10, {len(x)} digits")
    x_train, y_train = data.load_dataset("mnist", "train", source="bundled", verbose=False)
    linear = linear_region.train_softmax_regression(x_train, y_train)
    W, b = linear.weight.detach(), linear.bias.detach()
    used, reached = [], 0
    for i in range(len(x)):
        res = linear_region.solve_few_pixels(W, b, x[i], int((y[i] + 1) % 10))
        used.append(len(res.pixels))
        reached += res.reached
    used_t = torch.tensor(used, dtype=torch.float)
    print(f"  reached {reached}/{len(x)}; pixels used quartiles {quartiles(used_t)}; "
          f"within 20: {(used_t <= 20).float().mean():.1%}", flush=True)


def part4(cnn: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    """The best of the 9 targets per digit (greedy only)."""
    print(f"\n[4] baseline CNN, best of the 9 targets per digit (greedy only), {len(x)} digits")
    best = torch.full((len(x),), float("inf"))
    for shift in range(1, 10):
        p = attacks.min_pixels(cnn, x, (y + shift) % 10, targeted=True, methods=("greedy",), max_pixels=MAX_PIXELS,
                               **GREEDY)
        best = torch.minimum(best, p)
    print(f"  within 10: {(best <= 10).float().mean():.1%}   within 20: {(best <= 20).float().mean():.1%}   "
          f"quartiles {quartiles(best)}", flush=True)


if __name__ == "__main__":
    main()
