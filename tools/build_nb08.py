"""Writes notebooks/08_layered_routing.ipynb (unexecuted); run tools/run_notebooks.py after."""
from __future__ import annotations

from nbbuild import INSTALL, Notebook

nb = Notebook("08_layered_routing.ipynb")
md, code = nb.md, nb.code
BADGE = nb.badge()

md(BADGE + """


# 08 · Layered routing

Notebook 07's network has 2N outputs that each read N^(2/3) pixels: N^(5/3) work, *"completely
outrageous even for small images"*, as the essay admits. Its fix: *"stick a layer of 2N
intermediate outputs in the middle, and make it so that each of the middle values is based
off N^(1/3) of the inputs and each of the final outputs is based off N^(1/3) of the middle
values. As before, the training system is not allowed to alter which of the inputs are
factored into which outputs [...] This approach reduces the asymptotic to N^(4/3) [...]
Putting in more layers would reduce that even more, asymptotically approaching N^1."*

This notebook builds that network, measures how its cost grows with N, trains it on MNIST,
attacks it, and certifies what it can.

**You will learn**
- how to wire L routed layers so that an output still sees about N^(2/3) pixels;
- how cost grows with N for 2N outputs, depth 2, 3 and 4, counted and timed;
- how the layered net compares with the 2N-output net and the CNN, under attack;
- what limits the vote certificate, and what it would take to certify 12 pixels.
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
RETRAIN = False  # True: train the two layered models here (16 and 38 minutes: train s below) instead of loading them
N_ATTACK = 50  # test digits attacked with PGD and the square attacks
N_L0 = 30  # test digits attacked with both L0 attacks
MAX_PIXELS = 40
print(f"device: {DEVICE}")
''')

md("""
## The wiring

`routing.layered_wiring(N, depth)` builds L routed layers of 2N nodes. Node j of layer l reads
a fixed group of k nodes of the layer below, chosen by partition-repeat exactly as in notebook
07, so every node feeds the same number of nodes above. To keep an output's receptive field at
the essay's N^(2/3) pixels, k is the divisor nearest N^(2/(3L)): at depth 2, N^(1/3) = 9.2, so
k = 8, and an output sees at most 8 x 8 = 64 pixels (fewer where its middle nodes overlap).
""")

code('''
N = 28 * 28
wirings = routing.layered_wiring(N, 2, seed=0)
report = routing.check_wiring(wirings, N, repetition=[N // 8, 2 * N // 8])
print(f"fan-in per layer: {[w.shape[1] for w in wirings]}; N^(1/3) = {N ** (1 / 3):.1f}")
print(report)
''')

code('''
x_test, y_test = data.load_dataset("mnist", "test", source="bundled")
first, second = wirings
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
colours = torch.zeros(N)
for i, mid in enumerate(second[0].tolist()):  # output 0 reads 8 middle nodes; colour each one's pixels
    colours[first[mid]] = i + 1
axes[0].imshow(colours.view(28, 28), cmap="tab10", vmin=0, vmax=10)
axes[0].set_title("output 0: its 8 middle nodes,\\n8 pixels each (one colour each)")
axes[1].imshow(x_test[0, 0], cmap="gray_r")
axes[1].imshow((colours > 0).float().view(28, 28), cmap="Reds", alpha=0.45)
axes[1].set_title(f"output 0 sees {(colours > 0).sum().item()} pixels")
im = axes[2].imshow(routing.reach_counts(wirings, N).view(28, 28), cmap="viridis")
axes[2].set_title("outputs reached by each pixel")
fig.colorbar(im, ax=axes[2], fraction=0.046)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()
''')

md("""
## How the cost grows with N

For N pixels (the digits resized to 14, 28, 56, 112 and 224 pixels a side), the multiply-adds
per image, counted from the formulas (`routing.cost`), for the 2N-output net of notebook 07
and the layered net at depth 2, 3 and 4, with the bundled nets' nodes (32 hidden units, 8
values per middle node: `models.TWO_N`, `models.LAYERED`); then forward + backward timed
per image for the sizes that fit a laptop in seconds. The exponents are the slopes of
least-squares lines on the log-log plot.
""")

code('''
def build(kind, size):
    if kind == "2N outputs":
        return routing.TwoNOutputNet(**models.TWO_N, image_size=size)
    return routing.LayeredRoutingNet(**{**models.LAYERED, "depth": int(kind[-1])}, image_size=size)


def fan_in(kind, n):
    """The fan-in per layer that build(kind, size) uses for n = size^2 pixels."""
    if kind == "2N outputs":
        return [routing.nearest_divisor(n, n ** (2 / 3))]
    return routing.default_fan_in(n, int(kind[-1]))


def slope(ns, values):
    lx, ly = torch.tensor(ns).double().log(), torch.tensor(values).double().log()
    return float(((lx - lx.mean()) * (ly - ly.mean())).sum() / ((lx - lx.mean()) ** 2).sum())


def step_seconds(net, x, repeats=5):
    """Seconds per image of one forward + backward: the fastest of `repeats` after a warm-up
    (slower runs are other programs' doing, as Python's timeit advises)."""
    times = []
    for _ in range(repeats + 1):
        net.zero_grad(set_to_none=True)
        start = time.perf_counter()
        net(x).logsumexp(1).sum().backward()
        times.append(time.perf_counter() - start)
    return min(times[1:]) / len(x)


KINDS = ["2N outputs", "depth 2", "depth 3", "depth 4"]
SIZES, TIMED = [14, 28, 56, 112, 224], [14, 28, 56]
x64 = torch.rand(64, 1, 28, 28)
macs = {}
for kind in KINDS:
    macs[kind] = [routing.planned_cost(fan_in(kind, s * s), 2 * s * s, hidden=models.LAYERED["hidden"],
                                       node_dim=models.LAYERED["node_dim"])["macs"] for s in SIZES]
ns, nt = [s * s for s in SIZES], [s * s for s in TIMED]
print("multiply-adds per image, counted")
print(f"{'':<11}" + "".join(f"{'N=' + str(n):>13}" for n in ns) + f"{'exponent':>10}")
for kind in KINDS:
    print(f"{kind:<11}" + "".join(f"{m / 1e6:>12.2f}M" for m in macs[kind]) + f"{slope(ns, macs[kind]):>10.2f}")
''')

md("""
And timed (this cell's output differs from run to run, so the tests do not check it):
""")

code('''
seconds = {kind: [step_seconds(build(kind, size), x64) for size in TIMED] for kind in KINDS}
for kind in KINDS:
    print(f"{kind:<11}" + "".join(f"{t * 1e3:>9.3f} ms" for t in seconds[kind])
          + f"   time exponent over N = {', '.join(map(str, nt))}: {slope(nt, seconds[kind]):.2f}")
''', ignore_output=True)

code('''
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for kind in KINDS:
    axes[0].plot(ns, macs[kind], "o-", label=kind)
    axes[1].plot(nt, [s * 1e3 for s in seconds[kind]], "o-", label=kind)
for power, label in ((5 / 3, "N^(5/3)"), (4 / 3, "N^(4/3)"), (1.0, "N")):
    ref = [macs["2N outputs"][0] * (n / ns[0]) ** power for n in ns]
    axes[0].plot(ns, ref, "k", ls=":", lw=1)
    axes[0].annotate(label, (ns[-1], ref[-1]), fontsize=8)
axes[0].set_title("multiply-adds per image (counted)")
axes[1].set_title("forward + backward per image (timed, ms)")
for ax in axes:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N (pixels)")
    ax.legend()
plt.tight_layout()
plt.show()
''')

md("""
The counted exponents sit where the essay says, up to the rounding of group sizes to
divisors: N^1.64 for 2N outputs (the essay: N^(5/3)), N^1.27 at depth 2 (N^(4/3)), then
N^1.19 and N^1.13, towards N. The timed exponents should come out near the counted ones;
they wander from run to run, and the smallest size runs at a lower FLOP rate (fixed
overheads matter more there), which can pull the timed slopes down a little.
`benchmarks/routing.py` times all four sizes up to N = 12,544, interleaved so that a busy
spell of the machine hits every size alike, and measures the routed layer's FLOP rate
against a dense layer.

## Training and accuracy

The bundled layered nets use 32 hidden units per node and 8 values per middle node
(`models.LAYERED`); training is as in notebook 07: each output trained as a classifier
of its own, salt-and-pepper noise on 5% of the pixels.
""")

code('''
layered = recipes.pretrained("layered", retrain=RETRAIN)
layered_linear = recipes.pretrained("layered_linear", retrain=RETRAIN)
two_n = models.load_pretrained("two_n")
camera = models.load_pretrained("cnn")
print(layered)
MODELS = {"cnn": camera, "two_n": two_n, "layered": layered, "layered_linear": layered_linear}
print(f"{'model':<15} {'clean':>7} {'parameters':>11} {'multiply-adds':>14} {'train s':>8}")
for name, m in MODELS.items():
    info = models.training_info(name)
    print(f"{name:<15} {train.accuracy(m, x_test, y_test):>7.2%} {models.count_parameters(m):>11,} "
          f"{routing.measured_macs(m):>14,.0f} {info.get('train_seconds', float('nan')):>8}")
''')

md("""
## Attacks

The same suite as notebook 07, on the aggregated output: PGD and the square attack for Linf
and L2 (`helpers.robustness`), both L0 attacks for pixels, and the caper (its rates read
from the scoreboard of notebook 09, which runs exactly notebook 07's replay; set
`REPLAY_CAPER = True` to run it here).
""")

code('''
xa, ya = x_test[:N_ATTACK], y_test[:N_ATTACK]
BUDGETS = [("linf", 0.1), ("linf", 0.3), ("l2", 1.0), ("l2", 2.0)]
ATTACKED = {name: MODELS[name] for name in ("cnn", "layered", "layered_linear")}  # two_n: see notebook 07
robust = {}
for name, m in ATTACKED.items():
    # each norm's budgets in one ascending sweep: what fooled at 0.1 is not attacked again at 0.3
    robust[name] = dict(zip(BUDGETS, robustness.robust_curve(m, xa, ya, "linf", [0.1, 0.3])
                            + robustness.robust_curve(m, xa, ya, "l2", [1.0, 2.0])))
print(f"{N_ATTACK} test digits; robust = read correctly and fooled by neither attack at this budget or a smaller one")
print("  " + robustness.SETTINGS["linf"])
print("  " + robustness.SETTINGS["l2"])
print(f"{'model':<15}" + "".join(f"{n + ' ' + str(e):>10}" for n, e in BUDGETS))
for name, row in robust.items():
    print(f"{name:<15}" + "".join(f"{row[b]:>10.0%}" for b in BUDGETS))
''')

code('''
xl, yl = x_test[:N_L0], y_test[:N_L0]
needed = {name: robustness.pixels_needed(m, xl, yl, max_pixels=MAX_PIXELS) for name, m in ATTACKED.items()}
print(f"{N_L0} test digits; " + robustness.SETTINGS["l0"])
for name, p in needed.items():
    print(f"{name:<15} median pixels needed {p.median().item():>5.0f}; "
          f"not fooled within {MAX_PIXELS}: {int(torch.isinf(p).sum())} of {N_L0}")
print(f"layered needs {needed['layered'].median().item() / needed['cnn'].median().item():.1f}x the CNN's median")
''')

code('''
x_train, y_train = data.load_dataset("mnist", "train", source="bundled", verbose=False)
# the first 30 thief and CEO test pictures; glasses found on 200 CEO training pictures
rates = scoreboard.caper_rates(ATTACKED, replay=REPLAY_CAPER)
if not REPLAY_CAPER:  # the scoreboard ran exactly this replay (see its settings)
    print("from results/scoreboard.csv:", scoreboard.header(scoreboard.read()[0])[-1])
for name in ("cnn", "layered", "layered_linear"):
    print(f"{name:<15} thief read as the CEO after smudging: {rates[name]['smudges']:.0%}; "
          f"CEO read as the thief with glasses: {rates[name]['glasses']:.0%}")
xk = x_test[:200]
for name in ("cnn", "layered"):
    sl = certainty.slopes(MODELS[name], xk)
    print(f"{name:<15} certainty slope (K from below): median {sl['probability'].median():.2f}, "
          f"max {sl['probability'].max():.2f}")
''')

md("""
## The certificate, and its ceiling

The vote certificates of notebook 07 hold unchanged: the simple one certifies k pixels when
the vote's margin exceeds 2kr/M, the tight one charges each reached output only what it can
really cost and follows the wiring's actual reach sets. Here r counts the outputs a pixel
reaches *through* the middle layer, and the reach sets differ from pixel to pixel, which
the tight certificate uses.
""")

code('''
simple = routing.certified_pixels(layered, x_test, method="simple")
cert = routing.certified_pixels(layered, x_test)  # tight
correct = train.predict(layered, x_test).argmax(1) == y_test
r, M = layered.reach(), layered.n_outputs
print(f"r = {r}, M = {M}: one pixel moves the margin by at most {2 * r / M:.3f}; "
      f"ceiling of the simple certificate (margin 1): {math.ceil(M / (2 * r)) - 1} pixels")
print(f"{'pixels':>6} {'certified (simple)':>19} {'certified (tight)':>18}")
for k in range(0, 7):
    print(f"{k:>6} {(correct & (simple >= k)).float().mean():>19.2%} {(correct & (cert >= k)).float().mean():>18.2%}")
median_cert = torch.where(correct, cert, 0).median().item()
print(f"median certified pixels (0 where wrong), all {len(x_test):,} test digits: "
      f"simple {torch.where(correct, simple, 0).median().item()}, tight {median_cert}")
assert (cert >= simple).all()
beaten = (needed["layered"] <= cert[:N_L0]) & correct[:N_L0]
print(f"attacked digits where an attack needed no more pixels than certified: {int(beaten.sum())} of {N_L0}")
assert not beaten.any()
''')

md("""
Why the ceiling? Every output sees a receptive field of F pixels, so on average a pixel
reaches M F / N outputs, and r is at least that. The certificate 2kr/M < margin <= 1 then
allows at most about N / (2F) pixels, **whatever the training**. Published L0 certificates
on MNIST reach a median of 12 pixels (Feature Partition Aggregation) and 8 (randomized
ablation); to reach 12 here an output may see at most about 784 / 24 = 32 pixels. The
wiring alone says what each choice of fan-in allows:
""")

code('''
print(f"{'fan-in':>10} {'field':>6} {'r':>5} {'ceiling':>8}")
for fan in ([8, 8], [4, 8], [4, 7], [2, 8], [4, 4]):
    w = routing.layered_wiring(N, 2, fan_in=fan, seed=0)
    rep = routing.check_wiring(w, N)
    print(f"{str(fan):>10} {rep.field_max:>6} {rep.reach:>5} {math.ceil(M / (2 * rep.reach)) - 1:>8}")
''')

md("""
## Pixels needed vs number of outputs

As in notebook 07: the vote of the first m outputs (`routing.VoteSubset`), and a linear
readout trained for the first m outputs of `layered_linear` (`routing.fit_linear_subset`),
attacked by both L0 attacks on the first 20 of the digits above (for all 1568 outputs, the
results above).
""")

code('''
OUTPUTS = [10, 100, 1568]
xm, ym = x_test[:20], y_test[:20]
curve = {"vote": [], "linear": []}
for m in OUTPUTS:
    if m == M:  # all outputs: the nets attacked above, on these same digits
        for readout, name in (("vote", "layered"), ("linear", "layered_linear")):
            curve[readout].append((m, needed[name][:20].median().item(), train.accuracy(MODELS[name], x_test, y_test)))
        continue
    reader = routing.fit_linear_subset(layered_linear, m, x_train[:8000], y_train[:8000], progress=False)  # on the first 8,000 training digits
    for readout, model in (("vote", routing.VoteSubset(layered, m)), ("linear", reader)):
        p = robustness.pixels_needed(model, xm, ym, max_pixels=MAX_PIXELS)
        curve[readout].append((m, p.median().item(), train.accuracy(model, x_test, y_test)))
print(f"{'outputs':>8} {'vote: median pixels':>20} {'accuracy':>9} {'linear: median pixels':>22} {'accuracy':>9}")
for (m, pv, av), (_, pl, al) in zip(curve["vote"], curve["linear"]):
    print(f"{m:>8} {pv:>20.0f} {av:>9.1%} {pl:>22.0f} {al:>9.1%}")
fig, ax = plt.subplots(figsize=(6.5, 3.6))
for readout, rows in curve.items():
    ax.plot([q[0] for q in rows], [q[1] for q in rows], "o-", label=f"{readout} readout")
ax.axhline(needed["cnn"].median().item(), color="gray", ls="--", label="baseline CNN")
ax.set_xscale("log")
ax.set_xlabel("number of outputs m")
ax.set_ylabel(f"median pixels needed (cap {MAX_PIXELS})")
ax.legend()
plt.tight_layout()
plt.show()
''')

md("""
## What worked and what did not

All figures from the outputs above (50 digits for PGD and the square attacks, 30 for L0,
20 for the sweep over m, all 10,000 test digits for accuracy and certificates).

**What worked.**
- **The cost falls as the essay says.** Counted multiply-adds grow as N^1.64 for 2N
  outputs (the essay: N^(5/3)), N^1.27 at depth 2 (N^(4/3)), and N^1.19 and N^1.13 at
  depths 3 and 4, towards N. At N = 50,176 (224 x 224) depth 2 needs 982.65M multiply-adds
  per image against 5067.37M for 2N outputs. At MNIST's size the layered net is smaller
  than the 2N-output net too (4,644,416 parameters against 5,484,864).
- **Pixels.** Against both L0 attacks the layered vote needs a median of 20 pixels, 4.0x
  the CNN's 5, and 1 of the 30 digits held out to 40 pixels: this is the one place where
  the essay's hypothesis as this course states it (at least 3x) is met. The vote of only
  10 outputs needs 8; of 100, 17.
- **The certificate** is exact and is never beaten: median 5 pixels (the simple one: 4),
  with 84.28% of the test digits certified at 3 pixels and 73.37% at 4 (simple: 78.76%
  and 64.63%).

**What did not.**
- **Clean accuracy** is 96.07%, short of the 97% aimed for (the CNN: 99.41%). Tried on the
  way, on an earlier 8,000-digit training set, all less accurate there (figures in
  `helpers.recipes.train_routing`'s docstring): 16 hidden units and 4 values per middle
  node; adding the vote's own loss to the outputs'; middle nodes on local 2 x 4 tiles of
  pixels instead of scattered ones.
- **L2 and Linf.** The layered vote is *less* robust than the CNN to small dense changes:
  2% at Linf 0.1 (CNN 20%), 2% at L2 1.0 (CNN 58%). Its certainty moves fast on typical
  digits: the median slope from below is 1.24 against the CNN's 0.00 (the steepest: 2.75,
  the CNN's 2.96). Fixed wiring protects against a few pixels, not against a little
  everywhere: each middle node sees 8 pixels, and a small change to all of them moves
  every node a little, in a coordinated direction.
- **The moonshot.** A median of 12 certified pixels (Feature Partition Aggregation's
  figure) is out of reach of this wiring: with fan-in 8 and 8 an output sees up to 64
  pixels, a pixel reaches up to 128 of the 1568 outputs, and no margin can certify more
  than 6. The ceiling table shows what would be needed: fan-in [4, 8] (32 pixels per
  output) allows 12; whether such narrow outputs can still read digits well was not
  measured here.
- **The caper** still works on the thief's side: her smudges make 100% of her pictures read
  as the CEO (the smudges get a large L2 budget for a net this sensitive); the CEO's glasses work on 40% of his
  pictures (CNN: 90%).
- **The linear readout** again gives the gain back: 5 pixels, the CNN's median, and the
  CEO's glasses work on 97% of his pictures, though it reads more digits (98.19%).
""")

md("""
## Summary

- `routing.layered_wiring` stacks partition-repeat layers; fan-in N^(2/(3L)) keeps the
  receptive field at about N^(2/3) and the cost at about N^(1 + 2/(3L)).
- `routing.LayeredRoutingNet` computes every node of every layer at once; its vote and its
  linear readout are attacked like any other model.
- The vote certificate carries over with r counted through the layers; its ceiling,
  about N / (2F) pixels for a receptive field of F pixels, is set by the wiring.
""")

md("""
\n## Exercises
""")

md("""
**Exercise 1.** At depth 3, which fan-in does `routing.layered_wiring(784, 3)` choose per
layer, and what is the largest receptive field it allows? Put the product of the fan-ins in
`field_3`.
""")

code('''
field_3 = None  # your answer: an int

if field_3 is not None:
    assert field_3 == math.prod(w.shape[1] for w in routing.layered_wiring(784, 3)), "not quite: multiply the fan-ins"
    print("correct")
''')

md("""
**Exercise 2.** Using the multiply-adds counted above, by what factor does the depth-2 net's
cost grow when N grows from 784 to 3136? Put it in `growth`, and compare it with 4^(4/3).
""")

code('''
growth = None  # your answer: a float

if growth is not None:
    assert abs(growth - macs["depth 2"][2] / macs["depth 2"][1]) < 1e-6, "not quite: divide the two counts"
    print(f"correct; 4^(4/3) = {4 ** (4 / 3):.2f}")
''')

md("""
## Solutions
""")

code('''
# Exercise 1: 784^(2/9) = 4.4, so fan-in 4 at every layer: at most 4 * 4 * 4 pixels
field_3 = math.prod(w.shape[1] for w in routing.layered_wiring(784, 3))
assert field_3 == 4 * 4 * 4 and routing.check_wiring(routing.layered_wiring(784, 3), 784).field_max <= field_3
print(f"Exercise 1: fan-ins {[w.shape[1] for w in routing.layered_wiring(784, 3)]}, field at most {field_3}")

# Exercise 2: the ratio of the counted multiply-adds at N = 3136 and N = 784
growth = macs["depth 2"][2] / macs["depth 2"][1]
assert 4 ** (4 / 3) - 1 < growth < 4 ** (4 / 3) + 1  # the essay's N^(4/3), up to rounding fan-ins to divisors
print(f"Exercise 2: x{growth:.2f} (4^(4/3) = {4 ** (4 / 3):.2f})")
''')

nb.save()
