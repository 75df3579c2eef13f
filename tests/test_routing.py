"""helpers.routing: wiring invariants, the fast routed layer against a slow reference,
the cost formulas, the vote certificate against attacks, and clear errors."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import routing as R
from helpers.attacks import changed_pixels, l0_attack
from helpers.models import count_parameters

# ----------------------------------------------------------------------------
# wiring builders
# ----------------------------------------------------------------------------


@st.composite
def partition_sizes(draw):
    n = draw(st.sampled_from([12, 36, 49, 60, 64, 100, 196]))
    s = draw(st.sampled_from(R.divisors(n)))
    m = draw(st.integers(1, 3 * n))
    return n, s, m, draw(st.integers(0, 10_000))


@settings(max_examples=60, deadline=None)
@given(partition_sizes())
def test_partition_repeat_invariants(sizes):
    n, s, m, seed = sizes
    w = R.partition_repeat(n, s, m, seed=seed)
    per = n // s
    assert w.shape == (m, s) and w.dtype == torch.long
    assert w.min() >= 0 and w.max() < n
    for block in w.split(per):  # each repetition: disjoint groups; full ones cover every input once
        assert len(torch.unique(block)) == block.numel()
        if len(block) == per:
            assert torch.equal(block.flatten().sort().values, torch.arange(n))
    report = R.check_wiring(w, n, repetition=per)
    assert report.fan_in == (s,) and report.disjoint_repetitions is True
    assert report.every_input_used == (m >= per)
    # an input is in exactly one group of each full repetition, at most one of a partial one
    assert report.reach == math.ceil(m / per) and report.reach_min == m // per
    assert report.field_min == report.field_max == s


def test_partition_repeat_essay_sizes():
    """MNIST: s = 98 (divisor of 784 nearest 784^(2/3) = 85), M = 2N = 1568 outputs, so
    8 groups per partition and 2N / (N/s) = 2s = 196 repetitions (the essay says N^(1/3))."""
    assert R.nearest_divisor(784, 784 ** (2 / 3)) == 98
    w = R.partition_repeat(784, 98, 1568, seed=3)
    report = R.check_wiring(w, 784, repetition=8)
    assert report.reach == report.reach_min == 196 == 1568 // 8
    assert report.every_input_used and report.disjoint_repetitions


def test_partition_repeat_differs_by_seed_and_repeats_by_seed():
    assert torch.equal(R.partition_repeat(64, 8, 40, seed=1), R.partition_repeat(64, 8, 40, seed=1))
    assert not torch.equal(R.partition_repeat(64, 8, 40, seed=1), R.partition_repeat(64, 8, 40, seed=2))


@settings(max_examples=25, deadline=None)
@given(st.integers(4, 16), st.integers(1, 30), st.integers(1, 60), st.floats(0.5, 6.0), st.integers(0, 999))
def test_gaussian_local_invariants(size, s, m, sigma, seed):
    s = min(s, size * size)
    w = R.gaussian_local(size, s, m, sigma=sigma, seed=seed)
    assert w.shape == (m, s) and w.min() >= 0 and w.max() < size * size
    assert all(len(torch.unique(row)) == s for row in w)  # exact fan-in
    report = R.check_wiring(w, size * size)
    assert report.disjoint_repetitions is None
    assert report.reach == int(torch.bincount(w.flatten(), minlength=size * size).max())


def test_gaussian_local_is_local():
    """With sigma = 2 each output's pixels sit much closer together than random pixels do."""
    def spread(w):
        r, c = w // 28, w % 28
        return (r.float().std(dim=1) + c.float().std(dim=1)).mean()
    local = R.gaussian_local(28, 20, 200, sigma=2.0, seed=0)
    random = torch.stack([torch.randperm(784)[:20] for _ in range(200)])
    assert spread(local) < 0.4 * spread(random)


def _brute_reach(wirings, n):
    """Reach and fields by following every path with Python sets."""
    fields = [{i} for i in range(n)]
    for w in wirings:
        fields = [set().union(*(fields[j] for j in row.tolist())) for row in w]
    counts = [sum(i in f for f in fields) for i in range(n)]
    return counts, [len(f) for f in fields]


@settings(max_examples=20, deadline=None)
@given(st.sampled_from([(36, [3, 4]), (64, [4, 4]), (64, [2, 2, 4]), (100, [5, 2]), (49, [7])]), st.integers(0, 999))
def test_layered_wiring_matches_brute_force(sizes, seed):
    n, fan_in = sizes
    wirings = R.layered_wiring(n, len(fan_in), fan_in=fan_in, seed=seed)
    assert [w.shape for w in wirings] == [(2 * n, k) for k in fan_in]
    counts, fields = _brute_reach(wirings, n)
    assert R.reach_counts(wirings, n).tolist() == counts
    reps = [n // fan_in[0]] + [2 * n // k for k in fan_in[1:]]
    report = R.check_wiring(wirings, n, repetition=reps)
    assert report.reach == max(counts) and report.field_max == max(fields) and report.field_min == min(fields)
    assert report.disjoint_repetitions and report.every_input_used
    assert report.field_max <= math.prod(fan_in)
    # every node feeds exactly 2 * fan_in[l] / (size ratio) nodes above, so r <= product of those
    assert report.reach <= math.prod(2 * k for k in fan_in[:1]) * math.prod(fan_in[1:])


def test_layered_default_fan_in_follows_the_essay():
    """Depth L: fan-in near N^(2/(3L)), so a receptive field of at most about N^(2/3)."""
    assert [w.shape[1] for w in R.layered_wiring(784, 2)] == [8, 8]  # 784^(1/3) = 9.2
    assert [w.shape[1] for w in R.layered_wiring(784, 3)] == [4, 4, 4]  # 784^(2/9) = 4.4
    report = R.check_wiring(R.layered_wiring(784, 2), 784)
    assert report.field_max <= 64 < 784 ** (2 / 3)


def test_check_wiring_rejects_bad_wiring():
    w = R.partition_repeat(16, 4, 8)
    with pytest.raises(ValueError, match="outside"):
        R.check_wiring(w, 15)
    bad = w.clone()
    bad[0, 1] = bad[0, 0]
    with pytest.raises(ValueError, match="twice"):
        R.check_wiring(bad, 16)
    overlapping = torch.cat([w[:2], w[:2]])  # a "repetition" of 4 rows where groups repeat
    assert R.check_wiring(overlapping, 16, repetition=4).disjoint_repetitions is False
    with pytest.raises(TypeError):
        R.check_wiring(w.float(), 16)


@pytest.mark.parametrize("call, kind, match", [
    (lambda: R.partition_repeat(10, 20, 5), ValueError, "at most"),
    (lambda: R.partition_repeat(784, 85, 1568), ValueError, "divide.*nearest divisors: 56 and 98"),
    (lambda: R.partition_repeat(784, 0, 10), ValueError, "group_size"),
    (lambda: R.partition_repeat(784, 2.5, 10), TypeError, "group_size"),
    (lambda: R.gaussian_local(28, 800, 10), ValueError, "at most"),
    (lambda: R.gaussian_local(28, 10, 10, sigma=0), ValueError, "sigma"),
    (lambda: R.layered_wiring(784, 0), ValueError, "depth"),
    (lambda: R.layered_wiring(784, 2, fan_in=[8]), ValueError, "one group size per layer"),
    (lambda: R.layered_wiring(784, 2, fan_in=[9, 8]), ValueError, "divide"),
    (lambda: R.LayeredRoutingNet(depth=0), ValueError, "depth"),
    (lambda: R.TwoNOutputNet(group_size=100), ValueError, "divide"),
    (lambda: R.TwoNOutputNet(readout="softmax"), ValueError, "readout"),
    (lambda: R.TwoNOutputNet(wiring="ring"), ValueError, "wiring"),
])
def test_bad_sizes_raise_clear_errors(call, kind, match):
    with pytest.raises(kind, match=match):
        call()


def test_wrong_image_shape_raises():
    net = R.TwoNOutputNet(image_size=14, hidden=2)
    for bad in (torch.rand(2, 1, 27, 28), torch.rand(2, 28, 28), torch.rand(2, 3, 28, 28)):
        with pytest.raises(ValueError, match=r"\[B, 1, 28, 28\]"):
            net(bad)
    with pytest.raises(ValueError, match="node-major"):
        net.layers[0](torch.rand(4, 196))


# ----------------------------------------------------------------------------
# the fast routed layer against a slow, obviously correct reference
# ----------------------------------------------------------------------------


def reference_layer(layer: R.RoutedLayer, z: torch.Tensor) -> torch.Tensor:
    """One node at a time: gather its inputs, Linear -> ReLU -> Linear."""
    outs = []
    for j, inputs in enumerate(layer.wiring.tolist()):
        v = torch.cat([z[i] for i in inputs])  # [s * in_dim, B], inputs in wiring order
        hidden = torch.relu(layer.weight1[j] @ v + layer.bias1[j])
        outs.append(layer.weight2[j] @ hidden + layer.bias2[j])
    return torch.stack(outs)


@pytest.mark.parametrize("in_dim, block", [(1, None), (3, None), (2, 7)])
def test_fast_layer_equals_reference(monkeypatch, in_dim, block):
    if block is not None:  # force several blocks of nodes
        monkeypatch.setattr(R, "CHUNK_ELEMENTS", block)
    wiring = R.partition_repeat(30, 5, 23, seed=4)
    layer = R.RoutedLayer(wiring, in_dim=in_dim, hidden=6, out_dim=4, seed=1).double()
    z = torch.randn(30, in_dim, 9, dtype=torch.double, requires_grad=True)
    fast, slow = layer(z), reference_layer(layer, z)
    assert fast.shape == (23, 4, 9)
    torch.testing.assert_close(fast, slow)
    weights = torch.randn_like(fast)
    params = [z, *layer.parameters()]
    grads_fast = torch.autograd.grad((fast * weights).sum(), params)
    grads_slow = torch.autograd.grad((slow * weights).sum(), params)
    for a, b in zip(grads_fast, grads_slow):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("wanted", ["input only", "weights only"])
def test_fast_layer_partial_gradients(wanted):
    """Attacks need only the input's gradient, training only the weights': each alone
    still equals the reference."""
    wiring = R.partition_repeat(24, 4, 18, seed=2)
    layer = R.RoutedLayer(wiring, in_dim=2, hidden=5, out_dim=3, seed=3).double()
    z = torch.randn(24, 2, 7, dtype=torch.double, requires_grad=wanted == "input only")
    layer.requires_grad_(wanted == "weights only")
    wrt = [z] if wanted == "input only" else list(layer.parameters())
    weights = torch.randn(18, 3, 7, dtype=torch.double)
    fast = torch.autograd.grad((layer(z) * weights).sum(), wrt)
    slow = torch.autograd.grad((reference_layer(layer, z) * weights).sum(), wrt)
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b)


def test_fast_layer_gradcheck():
    wiring = R.partition_repeat(12, 3, 10, seed=0)
    z = torch.randn(12, 2, 3, dtype=torch.double, requires_grad=True)
    w1 = torch.randn(10, 4, 6, dtype=torch.double, requires_grad=True)
    b1 = torch.randn(10, 4, 1, dtype=torch.double, requires_grad=True)
    w2 = torch.randn(10, 5, 4, dtype=torch.double, requires_grad=True)
    b2 = torch.randn(10, 5, 1, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *t: R._RoutedMLP.apply(*t, wiring), (z, w1, b1, w2, b2))


def test_nets_equal_reference_composition():
    """The whole net, vote and linear readouts, against the reference layers composed by hand."""
    torch.manual_seed(0)
    x = torch.rand(5, 1, 28, 28, dtype=torch.double)
    for net in (R.TwoNOutputNet(hidden=3, n_outputs=40), R.LayeredRoutingNet(2, hidden=3, fan_in=[4, 7], width=56),
                R.LayeredRoutingNet(2, hidden=3, fan_in=[4, 7], width=56, readout="linear")):
        net = net.double()
        z = x.reshape(5, 784).t().unsqueeze(1)
        for layer in net.layers:
            z = reference_layer(layer, z)
        probs = z.softmax(dim=1).mean(dim=0).t()
        expected = probs.log() if net.readout == "vote" else net.linear(z.permute(2, 0, 1).reshape(5, -1))
        torch.testing.assert_close(net(x), expected)
        assert net(x).shape == (5, 10)


def test_vote_subset_uses_first_outputs():
    net = R.TwoNOutputNet(hidden=2, n_outputs=64, group_size=49, image_size=14).eval()
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(R.VoteSubset(net, 64)(x), net(x))
    sub = R.VoteSubset(net, 4)
    torch.testing.assert_close(sub(x), R.vote(net.node_logits(x)[:4]))
    assert sub.reach() == 1  # the first 4 groups are one partition: each pixel in one of them
    with pytest.raises(ValueError, match="at most"):
        R.VoteSubset(net, 65)


@pytest.mark.parametrize("depth", [1, 2])
def test_node_logits_of_the_first_outputs_equal_the_whole_nets(depth):
    """Computing only the first m outputs gives those outputs' numbers and gradients exactly."""
    net = (R.TwoNOutputNet(hidden=3, n_outputs=64, group_size=49, image_size=14) if depth == 1 else
           R.LayeredRoutingNet(2, hidden=3, node_dim=2, image_size=14)).double().eval()
    x = torch.rand(3, 1, 28, 28, dtype=torch.double, requires_grad=True)
    part, whole = net.node_logits(x, 5), net.node_logits(x)[:5]
    torch.testing.assert_close(part, whole)
    g_part, = torch.autograd.grad(part.square().sum(), x)
    g_whole, = torch.autograd.grad(whole.square().sum(), x)
    torch.testing.assert_close(g_part, g_whole)
    assert part.shape == (5, 10, 3)


# ----------------------------------------------------------------------------
# cost: formulas == what is built and what runs
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: R.TwoNOutputNet(hidden=4),
    lambda: R.TwoNOutputNet(hidden=4, readout="linear"),
    lambda: R.TwoNOutputNet(image_size=14, group_size=28, hidden=8),
    lambda: R.LayeredRoutingNet(2, hidden=4, node_dim=3),
    lambda: R.LayeredRoutingNet(3, hidden=4, node_dim=2, readout="linear"),
])
def test_cost_counts_match_formulas(make):
    net = make()
    counted = R.cost(net)
    node_dim = net.layers[1].in_dim if len(net.layers) > 1 else 1
    planned = R.planned_cost([layer.fan_in for layer in net.layers], net.n_outputs, hidden=net.layers[0].hidden,
                             node_dim=node_dim, readout=net.readout)
    assert planned == counted
    assert counted["parameters"] == count_parameters(net)
    assert counted["macs"] == R.measured_macs(net)
    n = net.n_inputs
    if isinstance(net, R.TwoNOutputNet) and net.readout == "vote":  # 2N (s h + 10 h) multiply-adds
        s, h = net.layers[0].fan_in, net.layers[0].hidden
        assert counted["macs"] == 2 * n * (s * h + 10 * h)


# ----------------------------------------------------------------------------
# the vote certificate
# ----------------------------------------------------------------------------


def test_certificate_arithmetic_survives_the_worst_output_change():
    """Brute force on the outputs themselves: for every certified image, let k = its
    certificate, pick k pixels, and give *every* output they reach the worst possible vote
    (all on one rival, for every rival). The top class must survive."""
    torch.manual_seed(0)
    net = R.TwoNOutputNet(image_size=28, n_outputs=256, group_size=49, hidden=4).eval()
    x = torch.rand(64, 1, 28, 28)
    k = R.certified_pixels(net, x)
    with torch.no_grad():
        logits = net.node_logits(x)  # [M, 10, B]
    probs = logits.softmax(dim=1)
    counts = R.reach_counts(net.wirings(), 784)
    pixels = counts.argsort(descending=True)  # the most-reaching pixels first
    reached = torch.zeros(256, 784, dtype=torch.bool).scatter_(1, net.layers[0].wiring, True)
    for b in range(len(x)):
        if k[b] == 0:
            continue
        top = probs[:, :, b].mean(0).argmax()
        hit = reached[:, pixels[: k[b]]].any(dim=1)
        for rival in range(10):
            if rival == top:
                continue
            worst = probs[:, :, b].clone()
            worst[hit] = torch.nn.functional.one_hot(torch.tensor(rival), 10).float()
            assert worst.mean(0).argmax() == top


def test_certificate_refuses_what_it_cannot_certify():
    linear = R.TwoNOutputNet(hidden=2, readout="linear")
    with pytest.raises(ValueError, match="vote"):
        R.certified_pixels(linear, torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match="image_size=28"):
        R.certified_pixels(R.TwoNOutputNet(image_size=14, hidden=2), torch.rand(2, 1, 28, 28))


@pytest.fixture(scope="module")
def bundled_test():
    from helpers.data import load_dataset
    return load_dataset("mnist", "test", source="bundled", verbose=False)


@pytest.mark.parametrize("name", ["two_n", "layered"])
def test_no_l0_attack_beats_the_certificate(name, bundled_test):
    """Both L0 attacks at exactly the certified number of pixels, on >= 200 certified
    examples, never change the class; the same attacks with far more pixels do."""
    from helpers.models import load_pretrained

    torch.manual_seed(0)
    net = load_pretrained(name)
    x, y = bundled_test
    x, y = x[:600], y[:600]
    k = R.certified_pixels(net, x)
    with torch.no_grad():
        ok = net(x).argmax(1) == y
    keep = ok & (k > 0)
    assert keep.sum() >= 200, f"only {int(keep.sum())} certified examples"
    x, y, k = x[keep][:240], y[keep][:240], k[keep][:240]
    for budget in k.unique().tolist():
        sel = k == budget
        for method in ("greedy", "random_search"):
            adv = l0_attack(net, x[sel], y[sel], max_pixels=budget, method=method, iterations=300, seed=1)
            assert (changed_pixels(x[sel], adv) <= budget).all()
            assert adv.min() >= 0 and adv.max() <= 1
            with torch.no_grad():
                assert (net(adv).argmax(1) == y[sel]).all(), f"{method} beat a {budget}-pixel certificate"
    # control: the attack is not toothless
    adv = l0_attack(net, x[:40], y[:40], max_pixels=150, method="greedy")
    with torch.no_grad():
        assert (net(adv).argmax(1) != y[:40]).float().mean() > 0.5
