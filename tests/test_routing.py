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


@pytest.fixture(scope="module")
def small_vote_net():
    """A vote net with real margins: 64 outputs on groups of 49 pixels (reach 4), trained
    for two epochs on 3,000 training digits (a few seconds), and 120 test digits."""
    from helpers.data import load_dataset
    from helpers.train import fit

    x, y = load_dataset("mnist", "train", source="bundled", verbose=False)
    torch.manual_seed(0)
    net = R.TwoNOutputNet(image_size=28, n_outputs=64, group_size=49, hidden=8, seed=0)
    fit(R.NodeLogits(net), x[:3000], y[:3000], epochs=2, batch_size=64, lr=1e-2, progress=False,
        loss_fn=R.node_loss)
    xt, _ = load_dataset("mnist", "test", source="bundled", verbose=False)
    return net.eval(), xt[:120]


def worst_case_survives(q: torch.Tensor, reached: torch.Tensor) -> torch.Tensor:
    """Outputs ``reached`` (bool ``[S, M]``: S choices of pixels) set to the worst possible
    vote, one-hot on a rival, for every rival: does the top class of the mean of ``q``
    (``[M, 10]``) still win? One bool per choice."""
    m = q.shape[0]
    top = int(q.mean(0).argmax())
    r = reached.to(q.dtype)
    kept = q.sum(0) - r @ q  # [S, 10]: the votes of the outputs left alone
    count = r.sum(1, keepdim=True)  # each changed output puts all its vote on the rival
    lead = kept[:, top : top + 1] - kept - count  # [S, 10]: top minus rival after the change, times M
    lead[:, top] = 1.0
    return (lead > 0).all(dim=1)


def _greedy_pixels(fields: torch.Tensor, t: torch.Tensor, k: int) -> torch.Tensor:
    """k pixels picked one at a time, each adding the most new damage t over not-yet-reached outputs."""
    covered = torch.zeros(fields.shape[0], dtype=torch.bool)
    chosen = []
    for _ in range(k):
        gain = (fields & ~covered[:, None]).double().T @ t
        best = int(gain.argmax())
        chosen.append(best)
        covered |= fields[:, best]
    return torch.tensor(chosen)


def test_tight_certificate_survives_exhaustive_and_adversarial_pixel_choices(small_vote_net):
    """For each digit certified at k pixels: every subset of k pixels (exhaustively, where
    k <= 2), and for larger k greedy max-damage picks against each rival, the pixels that
    reach the most outputs and random picks, leave the top class on top when every output
    they reach is set to the worst vote. At k + 1 some choice must fail for some digits
    (the certificate is not vacuous)."""
    net, x = small_vote_net
    k = R.certified_pixels(net, x)
    simple = R.certified_pixels(net, x, method="simple")
    assert (k >= simple).all()
    assert (k >= 2).sum() >= 20, f"the net's margins are too small to test: {k.tolist()}"
    with torch.no_grad():
        q = net.node_logits(x).double().softmax(dim=1)  # [M, 10, B]
    fields = R._fields_of(net)  # [M, 784]
    n = fields.shape[1]
    exhaustive = {size: torch.unique(fields[:, torch.combinations(torch.arange(n), size)].any(dim=2).T, dim=0)
                  for size in (1, 2)}  # every distinct set of outputs that 1 or 2 pixels reach
    gen = torch.Generator().manual_seed(0)
    broken_above = 0
    for b in range(len(x)):
        kb = int(k[b])
        qb = q[:, :, b]
        top = int(qb.mean(0).argmax())
        if kb == 0:
            continue
        if kb <= 2:
            assert worst_case_survives(qb, exhaustive[kb]).all(), f"digit {b}: an exhaustive {kb}-subset beat it"
        rivals = [c for c in range(10) if c != top]
        def picks(size):
            out = [fields.sum(0).argsort(descending=True)[:size]]
            out += [_greedy_pixels(fields, 1 + qb[:, top] - qb[:, c], size) for c in rivals]
            return out
        choices = picks(kb) + [torch.randperm(n, generator=gen)[:kb] for _ in range(20)]
        reached = torch.stack([fields[:, pix].any(dim=1) for pix in choices])
        assert worst_case_survives(qb, reached).all(), f"digit {b}: {kb} pixels beat a {kb}-pixel certificate"
        above = torch.stack([fields[:, pix].any(dim=1) for pix in picks(kb + 1)])
        broken_above += int(not worst_case_survives(qb, above).all())
    assert broken_above > 0


def test_a_wrong_certificate_is_caught(small_vote_net):
    """Feed the check a certificate two too large everywhere: it must fail on some digit."""
    net, x = small_vote_net
    k = R.certified_pixels(net, x) + 2
    with torch.no_grad():
        q = net.node_logits(x).double().softmax(dim=1)
    fields = R._fields_of(net)
    fails = 0
    for b in range(len(x)):
        qb = q[:, :, b]
        top = int(qb.mean(0).argmax())
        reached = torch.stack([fields[:, _greedy_pixels(fields, 1 + qb[:, top] - qb[:, c], int(k[b]))].any(dim=1)
                               for c in range(10) if c != top])
        fails += int(not worst_case_survives(qb, reached).all())
    assert fails > 0


def test_certificate_bad_arguments(small_vote_net):
    net, x = small_vote_net
    with pytest.raises(ValueError, match="method="):
        R.certified_pixels(net, x[:2], method="exact")
    with pytest.raises(ValueError, match="tolerance"):
        R.certified_pixels(net, x[:2], tolerance=-1e-3)


def test_certificate_of_a_vote_subset_uses_its_own_outputs(small_vote_net):
    net, x = small_vote_net
    sub = R.VoteSubset(net, 16)
    k = R.certified_pixels(sub, x)
    assert (k >= R.certified_pixels(sub, x, method="simple")).all()
    assert torch.equal(R.certified_pixels(R.VoteSubset(net, net.n_outputs), x), R.certified_pixels(net, x))


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
