"""Writes notebooks/07_two_n_outputs.ipynb (unexecuted); run tools/run_notebooks.py after."""
from __future__ import annotations

from nbbuild import INSTALL, Notebook

nb = Notebook("07_two_n_outputs.ipynb")
md, code = nb.md, nb.code
BADGE = nb.badge()

md(BADGE + """


# 07 · 2N outputs

Shamir et al. proved that with m classes, about m changed pixels are enough to steer a
ReLU network to any target class: m outputs are m linear equations, and a handful of free
pixels solve them (notebook 03). The essay's answer is to give the network many more
outputs than the attacker has pixels: *"instead of a small constant number of features in
the output we have 2N features in the output, since the N inputs can't control the overall
direction of the sum of those in a controlled way"*. To keep the outputs from all saying
the same thing, *"for each output pick some fraction of the inputs, for example N^(2/3),
and train a neural network for that output based on only those inputs"*, partitioning the
inputs into disjoint groups and repeating.

This notebook builds that network for MNIST (N = 784 pixels, 2N = 1568 outputs), trains
it, attacks it with everything the course has, and proves what can be proved.

**You will learn**
- how to wire 2N outputs to fixed groups of N^(2/3) pixels, and why that takes 2N^(2/3)
  repetitions of a partition, not N^(1/3);
- what the network costs, counted and timed, beside the baseline CNN;
- two ways to turn 1568 outputs into one decision: a bounded vote and a learned linear
  readout, and why the linear one hands the m-pixel argument back to the attacker;
- an exact certificate for the vote: how many pixels provably cannot change its answer;
- how the pixels an attacker needs grow with the number of outputs.
""")

code(INSTALL)

code('''
import math
import time

import matplotlib.pyplot as plt
import torch

from helpers import certainty, data, env, models, recipes, robustness, routing, scoreboard, train

DEVICE = env.setup(seed=0)
REPLAY_CAPER = False  # True: replay the caper here (about a minute); False: read the scoreboard's replay of it
RETRAIN = False  # True: train the two routing models here (23 and 50 minutes: printed below) instead of loading them
N_ATTACK = 50  # test digits attacked with PGD and the square attacks
N_L0 = 30  # test digits attacked with both L0 attacks (up to MAX_PIXELS pixels)
MAX_PIXELS = 40
print(f"device: {DEVICE}")
''')

md("""
## The wiring, and the essay's arithmetic

Each output reads a fixed group of s pixels. The essay's size is s = N^(2/3); groups must
partition the 784 pixels exactly, so the course takes the divisor of 784 nearest 784^(2/3):
98 pixels, 8 groups per partition. One partition therefore gives only 8 outputs, and 2N
outputs need 2N / 8 repetitions of a fresh random partition. In general one partition
gives N / N^(2/3) = N^(1/3) outputs, so 2N outputs take **2N^(2/3)** repetitions; the
essay's "repeating that N^(1/3) times" would give only N^(2/3) outputs. The numbers:
""")

code('''
N = 28 * 28
s = routing.nearest_divisor(N, N ** (2 / 3))
groups = N // s
M = 2 * N
print(f"N = {N} pixels; N^(2/3) = {N ** (2 / 3):.1f}, so groups of s = {s} pixels, {groups} per partition")
print(f"M = 2N = {M} outputs need {M // groups} repetitions = 2 N^(2/3) (with s = {s}: 2s = {2 * s}); "
      f"the essay's N^(1/3) = {N ** (1 / 3):.1f} repetitions would give {groups * round(N ** (1 / 3))} outputs")
''')

md("""
`routing.partition_repeat` builds the wiring, a fixed `[1568, 98]` table of pixel indices;
`routing.check_wiring` checks it (every node reads 98 distinct pixels, the groups of each
repetition are disjoint, every pixel is used) and measures **r**, the largest number of
outputs a single pixel can reach. r is what an attacker gets per pixel, and it will carry
the certificate below.
""")

code('''
wiring = routing.partition_repeat(N, s, M, seed=0)
report = routing.check_wiring(wiring, N, repetition=groups)
print(report)
''')

md("""
The essay also suggests picking each output's pixels *"using a gaussian distribution around
one point"*. `routing.gaussian_local` does that: each output gets a centre on the grid and
98 distinct pixels drawn with weight exp(-d^2 / 2 sigma^2). Its groups are not disjoint, and
its r is not the same for every pixel:
""")

code('''
local = routing.gaussian_local(28, s, M, sigma=4.0, seed=0)
local_report = routing.check_wiring(local, N)
print(local_report)
''')

code('''
def pixel_map(indices):
    """A 28 x 28 map with 1 on the listed pixels."""
    m = torch.zeros(N)
    m[indices] = 1
    return m.view(28, 28)


x_test, y_test = data.load_dataset("mnist", "test", source="bundled")
group_of = torch.empty(N)
for g in range(groups):
    group_of[wiring[g]] = g
fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
axes[0].imshow(group_of.view(28, 28), cmap="tab10")
axes[0].set_title("repetition 1: which of the\\n8 groups each pixel is in")
axes[1].imshow(x_test[0, 0], cmap="gray_r")
axes[1].imshow(pixel_map(wiring[0]), cmap="Reds", alpha=0.45)
axes[1].set_title("output 0 sees these 98 pixels")
axes[2].imshow(pixel_map(local[0]) + pixel_map(local[500]) * 2, cmap="magma")
axes[2].set_title("Gaussian-local: outputs 0\\nand 500 (sigma = 4)")
im = axes[3].imshow(routing.reach_counts(local, N).view(28, 28), cmap="viridis")
axes[3].set_title("Gaussian-local: outputs\\nreached by each pixel")
fig.colorbar(im, ax=axes[3], fraction=0.046)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()
''')

md("""
The course trains the partition wiring: every pixel reaches exactly the same number of
outputs, which keeps the certificate simple and uniform.

## The network: 1568 small MLPs, computed at once

Each output j is its own MLP, 98 pixels -> 32 hidden units (ReLU) -> 10 class logits
(`routing.RoutedLayer`). The 1568 MLPs are computed together: the layer works block by
block, each block gathering its nodes' pixels with one `index_select`, multiplying with
one batched matrix product (`baddbmm`), then applying the ReLU and the second product
while the block's hidden values are still in the CPU's cache, so there is no Python loop
over nodes; the tests check it against a slow one-node-at-a-time reference, outputs and
gradients.

Two readouts turn the 1568 outputs into one decision:

- **the bounded vote** (`readout="vote"`): the class probabilities are the mean of the 1568
  outputs' softmaxes, and the model returns their log. One output moves any class's
  probability by at most 1/1568.
- **a learned linear readout** (`readout="linear"`): one `nn.Linear` from all the outputs'
  logits (1568 x 10 of them) to 10 classes, trained end to end.

Both map `[B,1,28,28]` to `[B,10]`, so every attack of the course attacks their real
decision. The bundled checkpoints were trained by `helpers.recipes.train_routing` (set
`RETRAIN = True` above to train them here).
""")

code('''
two_n = recipes.pretrained("two_n", retrain=RETRAIN)
two_n_linear = recipes.pretrained("two_n_linear", retrain=RETRAIN)
camera = models.load_pretrained("cnn")
print(two_n)
for name in ("two_n", "two_n_linear"):
    info = models.training_info(name)
    print(f"{name}: {info['epochs']} epochs, {info['train_seconds']} s of training, loss {info['loss']}")
''')

md("""
## What it costs

`routing.cost` counts parameters and multiply-adds from the formulas (a routed layer of M
nodes with fan-in s, h hidden units and 10 outputs: M(sh + 10h) multiply-adds);
`routing.measured_macs` counts what torch actually multiplies in one forward pass. The CNN
is measured the same way.
""")

code('''
print(f"{'model':<13} {'parameters':>11} {'by formula':>11} {'multiply-adds':>14} {'by formula':>11}")
for name, model in (("cnn", camera), ("two_n", two_n), ("two_n_linear", two_n_linear)):
    formula = routing.cost(model) if name != "cnn" else {"parameters": "-", "macs": "-"}
    fp, fm = (f"{v:,}" if isinstance(v, int) else v for v in (formula["parameters"], formula["macs"]))
    print(f"{name:<13} {models.count_parameters(model):>11,} {fp:>11} {routing.measured_macs(model):>14,.0f} {fm:>11}")
''')

md("""
And the time of one forward pass on 500 digits, on your machine (timings differ from run to
run, so this cell's output is not checked by the tests):
""")

code('''
def forward_ms(model, x, repeats=5):
    with torch.no_grad():
        model(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return sorted(times)[repeats // 2] * 1000


for name, model in (("cnn", camera), ("two_n", two_n), ("two_n_linear", two_n_linear)):
    print(f"{name:<13} {forward_ms(model, x_test[:500]):7.1f} ms for 500 digits")
''', ignore_output=True)


md("""
The cost grows as N^(5/3): 2N outputs times N^(2/3) inputs each. At 28 x 28 that is still
small; notebook 08 measures how it grows with N and what the essay's layered routing saves.

## Accuracy: a vote of weak voters

Every output sees one eighth of the image, so alone it is a weak classifier. The vote is
much better than its typical voter:
""")

code('''
with torch.no_grad():
    node_logits = torch.cat([two_n.node_logits(x_test[i : i + 500]) for i in range(0, len(x_test), 500)], dim=2)
per_output = (node_logits.argmax(1) == y_test).float().mean(1)
clean = {name: train.accuracy(m, x_test, y_test) for name, m in
         (("cnn", camera), ("two_n", two_n), ("two_n_linear", two_n_linear))}
print(f"one output alone: accuracy {per_output.min():.1%} to {per_output.max():.1%} (median {per_output.median():.1%})")
for name, acc in clean.items():
    print(f"{name:<13} clean accuracy {acc:.2%} on {len(x_test)} test digits")
fig, ax = plt.subplots(figsize=(6.5, 3))
ax.hist(per_output.numpy() * 100, bins=40, color="tab:gray")
ax.axvline(clean["two_n"] * 100, color="tab:red", label=f"the vote of all {M}")
ax.set_xlabel("test accuracy of one output alone (%)")
ax.set_ylabel("outputs")
ax.legend()
plt.tight_layout()
plt.show()
''')

md("""
## Attacking the real decision

The attacks see the models exactly as the CNN: images in, ten scores out (for the vote, the
log of the mean probabilities), so they attack the aggregated decision directly, never the
outputs one by one. Robust accuracy is the minimum over PGD (gradients) and the square
attack (no gradients), each output re-checked (`helpers.robustness`).
""")

code('''
xa, ya = x_test[:N_ATTACK], y_test[:N_ATTACK]
BUDGETS = [("linf", 0.1), ("linf", 0.3), ("l2", 1.0), ("l2", 2.0)]
robust = {}
for name, m in (("cnn", camera), ("two_n", two_n), ("two_n_linear", two_n_linear)):
    # each norm's budgets in one ascending sweep: what fooled at 0.1 is not attacked again at 0.3
    robust[name] = dict(zip(BUDGETS, robustness.robust_curve(m, xa, ya, "linf", [0.1, 0.3])
                            + robustness.robust_curve(m, xa, ya, "l2", [1.0, 2.0])))
print(f"{N_ATTACK} test digits; robust = read correctly and fooled by neither attack at this budget or a smaller one")
print("  " + robustness.SETTINGS["linf"])
print("  " + robustness.SETTINGS["l2"])
print(f"{'model':<13}" + "".join(f"{n + ' ' + str(e):>10}" for n, e in BUDGETS))
for name, row in robust.items():
    print(f"{name:<13}" + "".join(f"{row[b]:>10.0%}" for b in BUDGETS))
''')

md("""
### A few pixels

Now the essay's own battleground: how many pixels must change? Both L0 attacks of notebook
03 (greedy with gradients, random search without), untargeted, up to 40 pixels; per digit
the fewer of the two, every result re-checked.
""")

code('''
xl, yl = x_test[:N_L0], y_test[:N_L0]
needed = {name: robustness.pixels_needed(m, xl, yl, max_pixels=MAX_PIXELS)
          for name, m in (("cnn", camera), ("two_n", two_n), ("two_n_linear", two_n_linear))}
print(f"{N_L0} test digits; " + robustness.SETTINGS["l0"])
for name, p in needed.items():
    print(f"{name:<13} median pixels needed {p.median().item():>5.0f}; "
          f"not fooled within {MAX_PIXELS} pixels: {int(torch.isinf(p).sum())} of {N_L0}")
ratio = needed["two_n"].median().item() / needed["cnn"].median().item()
print(f"two_n needs {ratio:.1f}x the CNN's median (the essay's hypothesis, as this course states it: at least 3x)")
''')

code('''
fig, ax = plt.subplots(figsize=(6.5, 3.4))
for name, p in needed.items():
    k = torch.arange(0, MAX_PIXELS + 1)
    ax.plot(k, [(p <= v).float().mean().item() * 100 for v in k], label=name)
ax.set_xlabel("pixels changed")
ax.set_ylabel("digits fooled (%)")
ax.set_title(f"L0 attacks, untargeted, {N_L0} test digits")
ax.legend()
plt.tight_layout()
plt.show()
''')

md("""
### The caper

The thief (a 3) smudges her picture to read as the CEO (an 8), L2 budget 2.5; the CEO's
glasses are one pattern in a band of rows 8-12, found on training pictures, that should
make his test pictures read as the thief (notebook 02). Finding the glasses is the slow part (an
optimisation for each model), and the course's scoreboard (notebook 09) runs exactly this replay for every model,
so by default the rates are read from it; set `REPLAY_CAPER = True` to run it here.
""")

code('''
x_train, y_train = data.load_dataset("mnist", "train", source="bundled", verbose=False)
# the first 30 thief and CEO test pictures; glasses found on 200 CEO training pictures
rates = scoreboard.caper_rates({"cnn": camera, "two_n": two_n, "two_n_linear": two_n_linear}, replay=REPLAY_CAPER)
if not REPLAY_CAPER:  # the scoreboard ran exactly this replay (see its settings)
    print("from results/scoreboard.csv:", scoreboard.header(scoreboard.read()[0])[-1])
for name in ("cnn", "two_n", "two_n_linear"):
    print(f"{name:<13} thief read as the CEO after smudging: {rates[name]['smudges']:.0%}; "
          f"CEO read as the thief with glasses: {rates[name]['glasses']:.0%}")
''')

md("""
## K: how fast can the vote's certainty move?

Notebook 05 measured the essay's K from below with gradients. The same tools work on the
vote. An upper bound from layer norms (`certainty.lipschitz_upper_bound`) is not defined for
routed layers; the course does not have one, so only the lower bounds are shown.
""")

code('''
xk = x_test[:200]
for name, m in (("cnn", camera), ("two_n", two_n)):
    sl = certainty.slopes(m, xk)
    print(f"{name:<6} certainty slope (the essay's K, from below): median {sl['probability'].median():.2f}, "
          f"max {sl['probability'].max():.2f}; margin slope max {sl['margin'].max():.2f}")
''')

md("""
## The vote certificate

Write the vote as p_c = (1/M) sum_j q_jc, with q_j output j's probabilities. Changing
output j's probabilities in any way moves p_a - p_c, for any two classes a and c, by at
most 2/M (q_ja can fall by at most 1 and q_jc rise by at most 1, and they share one unit
of mass). A changed pixel reaches at most r outputs, so k changed pixels change at most
k r outputs, and p_a - p_c by at most 2kr/M. So if the top class leads the runner-up by
more than 2kr/M, **no change to k pixels, of any size, can change the answer**.
`routing.certified_pixels(..., method="simple")` returns the largest such k for each
image. With r = 196 and M = 1568, one pixel costs at most 2 x 196 / 1568 = 0.25 of margin;
the margin is at most 1, so this network can never certify more than 3 pixels, however
well it is trained: its outputs each see 1/8 of the image, so each pixel reaches 1/8 of them.

The simple certificate charges every reached output the full 2/M. A sharper one uses what
the outputs say now: against a rival c, output j can cost the margin p_a - p_c at most
(1 + q_ja - q_jc)/M (it contributes q_ja - q_jc now and at least -1 after). So k pixels
cost at most the sum of the k r largest such terms, and also at most the sum, over the k
pixels whose reach sets carry the most, of the terms of the outputs each one reaches (the
actual wiring). The default `method="tight"` takes the smaller of the two, for every
rival. It is sound for the same reason as the simple one, never smaller, and still a
proof about *any* change to the k pixels.
""")

code('''
correct = train.predict(two_n, x_test).argmax(1) == y_test
simple = routing.certified_pixels(two_n, x_test, method="simple")
cert = routing.certified_pixels(two_n, x_test)  # the tight certificate
print(f"r = {two_n.reach()}, M = {two_n.n_outputs}: one pixel moves the margin by at most "
      f"{2 * two_n.reach() / two_n.n_outputs:.3f}")
print(f"{'pixels':>6} {'certified (simple)':>19} {'certified (tight)':>18}")
for k in range(0, 5):
    print(f"{k:>6} {(correct & (simple >= k)).float().mean():>19.2%} {(correct & (cert >= k)).float().mean():>18.2%}")
print(f"median certified pixels (0 where wrong), all {len(x_test):,} test digits: "
      f"simple {torch.where(correct, simple, 0).median().item()}, tight {torch.where(correct, cert, 0).median().item()}; "
      f"tight above simple on {int((cert > simple).sum())} digits")
assert (cert >= simple).all()
''')

md("""
A certificate is only as good as the code that computes it, so we check it against the
attacks: on the digits attacked above, no attack may need as few pixels as are certified.
""")

code('''
cert_l0 = cert[:N_L0]
beaten = (needed["two_n"] <= cert_l0) & correct[:N_L0]
print(f"{N_L0} digits: certified {cert_l0.tolist()}")
print(f"pixels the attacks needed: {needed['two_n'].tolist()}")
print(f"attacks that beat a certificate: {int(beaten.sum())}")
assert not beaten.any()
''')

md("""
## Pixels needed vs number of outputs

The essay's central claim: with more outputs, a few pixels can no longer steer them all.
Here the outputs are the first m of the trained net (m = 10, 100 and 2N = 1568), read by the
vote (`routing.VoteSubset`), or by a linear readout trained for those m outputs on the
frozen outputs of `two_n_linear` (`routing.fit_linear_subset`). For each, both L0 attacks
on the first 20 of the same digits, up to 40 pixels (for all 1568 outputs: the results above).
""")

code('''
OUTPUTS = [10, 100, 1568]
xm, ym = x_test[:20], y_test[:20]
curve = {"vote": [], "linear": []}
for m in OUTPUTS:
    if m == M:  # all outputs: the nets attacked above, on these same digits
        curve["vote"].append((m, needed["two_n"][:20].median().item(), clean["two_n"]))
        curve["linear"].append((m, needed["two_n_linear"][:20].median().item(), clean["two_n_linear"]))
        continue
    reader = routing.fit_linear_subset(two_n_linear, m, x_train[:8000], y_train[:8000], progress=False)  # on the first 8,000 training digits
    for readout, model in (("vote", routing.VoteSubset(two_n, m)), ("linear", reader)):
        p = robustness.pixels_needed(model, xm, ym, max_pixels=MAX_PIXELS)
        curve[readout].append((m, p.median().item(), train.accuracy(model, x_test, y_test)))
print(f"{'outputs':>8} {'vote: median pixels':>20} {'accuracy':>9} {'linear: median pixels':>22} {'accuracy':>9}")
for (m, pv, av), (_, pl, al) in zip(curve["vote"], curve["linear"]):
    print(f"{m:>8} {pv:>20.0f} {av:>9.1%} {pl:>22.0f} {al:>9.1%}")
''')

code('''
fig, ax = plt.subplots(figsize=(6.5, 3.6))
for readout, rows in curve.items():
    ax.plot([r[0] for r in rows], [r[1] for r in rows], "o-", label=f"{readout} readout")
ax.axhline(needed["cnn"].median().item(), color="gray", ls="--", label="baseline CNN (10 outputs)")
ax.set_xscale("log")
ax.set_xlabel("number of outputs m")
ax.set_ylabel(f"median pixels needed (cap {MAX_PIXELS})")
ax.set_title("the essay's central claim, measured")
ax.legend()
plt.tight_layout()
plt.show()
''')

md("""
## What worked and what did not

All figures from the outputs above (50 digits for PGD and the square attacks, 30 for L0,
20 for the sweep over m, all 10,000 test digits for accuracy and certificates).

**What worked.**
- The vote holds up far better than the CNN against L2 attacks: at L2 2.0 it keeps 34% of
  the attacked digits where the CNN keeps 0%; at Linf 0.1, 76% against 20%.
- It needs more pixels: a median of 14 changed pixels against the CNN's 5, and the caper
  gets harder, mostly on the CEO's side: the thief's smudges still work on 93% of her
  pictures (CNN: 100%), the CEO's glasses on 40% of his (CNN: 90%).
- The vote has an exact certificate, computed in one forward pass: 3 pixels for the median
  test digit, with 72.50% of the test set certified at 3 pixels by the tight certificate
  (66.35% by the simple one); no attack ever needed as few pixels as were certified.

**What did not.**
- The essay's hypothesis as this course states it, 3x the CNN's pixels, is not met: 2.8x.
  Clean accuracy, 96.29%, just meets the 96% aimed for but stays below the CNN's 99.41% (a
  single output alone reads 82.6% to 93.8% of the digits). Tried on the way, on an earlier
  8,000-digit training set, all less accurate there than the bundled recipe (the figures
  are in `helpers.recipes.train_routing`'s docstring): 16 hidden units instead of 32, no
  noise on the inputs, and the CNN's random affine augmentation instead of the noise.
- **More outputs helps, but slowly.** The vote of only the first 10 outputs already
  needs 9 pixels (the CNN: 5); going to all 1568 adds 5 pixels (14) and 0.3 points of
  accuracy (96.0% to 96.3%). So about half of the gain over the CNN (4 of 9 pixels) comes
  with the first 10 outputs, from fixed groups of 98 pixels, and half from the count. And
  with 2N outputs the certificate cannot exceed 3 pixels, because each pixel reaches 1/8
  of them.
- **The linear readout gives most of it back.** Trained end to end it is more accurate
  (98.41%) but less robust than the CNN against Linf and L2 (0% at Linf 0.1, 26% at L2
  1.0), and the smudges and glasses work on 100% and 97% of pictures; only its pixel count (10)
  stays above the CNN's. Its pixel count does rise with m, from 1 at 10 outputs (where it
  reads only 51.7% of digits) to 11 at 1568; at 100 outputs it already reads 90.8% but
  needs only 2, so the rise is not accuracy alone.
- Linf 0.3 breaks every model here (0%): nothing in this design bounds a change spread
  thinly over every pixel, as the essay expected.
- It costs 5,484,864 parameters against the CNN's 171,158, and 5,419,008 multiply-adds per
  image against 2,980,200.
""")

md("""
## Summary

- `routing.partition_repeat` wires M outputs to disjoint groups of s pixels, repeated; with
  the essay's s = N^(2/3) and M = 2N that takes 2N^(2/3) repetitions.
- `routing.check_wiring` checks fan-in, disjointness and coverage, and measures r, the most
  outputs one pixel reaches.
- `routing.TwoNOutputNet` computes all 1568 small MLPs at once and reads them by a bounded
  vote or a linear readout; both return ten scores, so every attack attacks the decision.
- The vote's margin and r give an exact L0 certificate, `routing.certified_pixels`:
  margin > 2kr/M certifies k pixels. Since r/M is the fraction of the image each output
  sees, the certificate can never exceed N/(2s) pixels.
""")

md("""
\n## Exercises
""")

md("""
**Exercise 1.** With N = 784 and groups of s = 49 pixels, how many repetitions of a
partition give 2N outputs? Put it in `reps_49`.
""")

code('''
reps_49 = None  # your answer: an int

if reps_49 is not None:
    w49 = routing.partition_repeat(784, 49, 1568, seed=1)
    assert reps_49 == routing.check_wiring(w49, 784, repetition=784 // 49).reach, "not quite: count the partitions"
    print("correct")
''')

md("""
**Exercise 2.** A vote net has M = 1568 outputs and r = 196. Its top class leads the
runner-up by a margin of 0.6. How many pixels are certified? Put it in `k_certified`.
""")

code('''
k_certified = None  # your answer: an int

if k_certified is not None:
    assert 2 * k_certified * 196 / 1568 < 0.6 <= 2 * (k_certified + 1) * 196 / 1568, \\
        "not quite: the largest k with 2 k r / M below the margin"
    print("correct")
''')

md("""
**Exercise 3.** Build a 2N-output net with groups of 28 pixels (`routing.TwoNOutputNet(group_size=28)`,
untrained) and put its reach r in `r_28`. What is the most pixels its vote could ever
certify, with a margin of 1?
""")

code('''
r_28 = None  # your answer: an int

if r_28 is not None:
    assert r_28 == routing.TwoNOutputNet(group_size=28, hidden=2).reach(), "not quite: use .reach()"
    print(f"correct: at most {math.ceil(1568 / (2 * r_28)) - 1} pixels")
''')

md("""
## Solutions
""")

code('''
# Exercise 1: 784 / 49 = 16 groups per partition, so 1568 / 16 = 98 partitions; each pixel is in one group of each
reps_49 = 1568 // (784 // 49)
assert reps_49 == routing.check_wiring(routing.partition_repeat(784, 49, 1568, seed=1), 784).reach
print(f"Exercise 1: {reps_49} repetitions")

# Exercise 2: one pixel costs 2 r / M = 0.25 of margin; 2 pixels cost 0.5 < 0.6, 3 cost 0.75
k_certified = math.ceil(0.6 * 1568 / (2 * 196)) - 1
assert 2 * k_certified * 196 / 1568 < 0.6 <= 2 * (k_certified + 1) * 196 / 1568
print(f"Exercise 2: {k_certified} pixels")

# Exercise 3: 28 divides 784: 28 groups per partition, 1568 / 28 = 56 repetitions, r = 56
r_28 = routing.TwoNOutputNet(group_size=28, hidden=2).reach()
print(f"Exercise 3: r = {r_28}; at most {math.ceil(1568 / (2 * r_28)) - 1} certified pixels (1568 / (2 r) = {1568 / (2 * r_28)})")
''')

nb.save()
