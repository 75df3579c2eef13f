"""How strong the course's attacks are, measured against references on the baseline CNN.

    python benchmarks/attack_strength.py            # 500 test digits (about 10 minutes at one thread)
    python benchmarks/attack_strength.py --quick    # 60 digits, to check that the script works

Strength is the robust accuracy an attack leaves (lower = stronger), on the board's digits
(``helpers.digits.sample``), Linf 0.1 and L2 1.58, 40 steps each:

(a) PGD: the course's ``attacks.pgd`` at its defaults (cross-entropy, cosine step schedule
    from eps) against its old defaults (margin loss, constant step 2.5 eps / steps), a plain
    library-style PGD written out below (cross-entropy, constant step eps/10, random start),
    and AutoAttack's APGD-CE with the same 40 iterations (if ``pyautoattack`` is installed).
    Target: the defaults at least as strong as the plain PGD.
(b) ``square_l2`` at 1,000 and 5,000 queries: robust accuracy and the final perturbations'
    L2 norms (they must end at eps where the box allows).
(c) Greedy L0: mean pixels needed, cross-entropy vs margin guidance, without and with the
    pruning pass of ``attacks.min_pixels``.

One torch thread; every attack on the same digits in one run, so the figures compare.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from helpers import attacks, digits, models  # noqa: E402


def plain_pgd(model, x, y, eps: float, norm: str, steps: int = 40, seed: int = 0) -> torch.Tensor:
    """Textbook PGD: cross-entropy, constant step eps/10, random start (Linf), projection."""
    step = eps / 10
    gen = torch.Generator().manual_seed(seed)
    adv = (x + (2 * torch.rand(x.shape, generator=gen) - 1) * eps).clamp(0, 1) if norm == "linf" else x.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(adv), y)
        (grad,) = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            if norm == "linf":
                adv = torch.min(torch.max(adv + step * grad.sign(), x - eps), x + eps).clamp(0, 1)
            else:
                g = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
                d = adv + step * g - x
                scale = (eps / d.flatten(1).norm(dim=1).clamp_min(1e-12)).clamp(max=1).view(-1, 1, 1, 1)
                adv = (x + d * scale).clamp(0, 1)
    return adv.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    n = 60 if args.quick else 500
    x, y, _ = digits.sample(n, 0)
    model = models.load_pretrained("cnn").eval()

    def left(adv: torch.Tensor, norm: str, eps: float) -> float:
        return attacks.recheck(model, x, adv, y, norm=norm, budget=eps).float().mean().item()

    print(f"baseline CNN, {n} test digits (the board's sample), 40 steps; robust accuracy left (lower = stronger)")
    for norm, eps in (("linf", 0.1), ("l2", 1.58)):
        print(f"\n(a) PGD, {norm} {eps}")
        runs = {
            "course pgd, defaults (ce, cosine from eps)": attacks.pgd(model, x, y, eps, norm=norm),
            "course pgd, old defaults (margin, constant 2.5 eps/40)": attacks.pgd(
                model, x, y, eps, norm=norm, loss="margin", schedule="constant"),
            "plain PGD (ce, constant eps/10)": plain_pgd(model, x, y, eps, norm),
        }
        try:
            from pyautoattack.autopgd_base import APGDAttack

            apgd = APGDAttack(model, norm="Linf" if norm == "linf" else "L2", eps=eps, n_iter=40, n_restarts=1,
                              loss="ce", seed=0, device="cpu")
            runs["AutoAttack's APGD-CE, 40 iterations"] = apgd.perturb(x, y)
        except ImportError:
            print("    (pyautoattack not installed: APGD-CE skipped)")
        for label, adv in runs.items():
            print(f"    {label:<58} {left(adv, norm, eps):6.1%}")
    print("\n(b) square_l2, eps 1.58")
    for queries in (1000, 5000):
        start = time.perf_counter()
        adv = attacks.square_l2(model, x, y, 1.58, iterations=queries)
        size = (adv - x).flatten(1).norm(dim=1)
        print(f"    {queries} queries: robust {left(adv, 'l2', 1.58):6.1%}; final L2 norm median {size.median():.3f}, "
              f"min {size.min():.3f}, max {size.max():.3f} ({time.perf_counter() - start:.0f} s)")
    print("\n(c) greedy L0 (min_pixels, greedy only, up to 40 pixels)")
    sub = slice(0, 60 if args.quick else 200)
    for loss, prune in (("ce", False), ("margin", False), ("margin", True)):
        pixels = attacks.min_pixels(model, x[sub], y[sub], methods=("greedy",), max_pixels=40, loss=loss, prune=prune)
        found = torch.isfinite(pixels)
        print(f"    loss {loss:<6} prune {str(prune):<5}: mean pixels {pixels[found].mean():.2f} over "
              f"{int(found.sum())} digits fooled, median {pixels.median():.0f}")


if __name__ == "__main__":
    main()
