"""The essay's networks: many outputs, each a small net on a fixed subset of the inputs.

Notebook 08 teaches the wiring builders (``partition_repeat``, ``gaussian_local``),
``check_wiring``, ``RoutedLayer``, ``TwoNOutputNet``, ``vote`` and the vote certificate
``certified_pixels``; notebook 09 teaches ``layered_wiring`` and ``LayeredRoutingNet``.

Words used throughout:

* **wiring**: a long tensor ``[M, s]``; row j lists the ``s`` inputs that node j reads.
  It is fixed when the network is built and never trained (it is stored as a buffer,
  so a checkpoint carries the wiring it was trained with).
* **repetition**: in a partition-repeat wiring, a block of ``n / s`` consecutive rows
  whose groups are disjoint and together cover all ``n`` inputs once.
* **reach** ``r``: the largest number of outputs that any single input can influence.
  If k inputs change, at most ``k * r`` outputs change; that is the whole vote
  certificate.

Nothing happens on import.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_choice, check_int

__all__ = [
    "divisors",
    "nearest_divisor",
    "partition_repeat",
    "gaussian_local",
    "layered_wiring",
    "WiringReport",
    "check_wiring",
    "reach_counts",
    "RoutedLayer",
    "RoutingNet",
    "TwoNOutputNet",
    "LayeredRoutingNet",
    "VoteSubset",
    "SoftenedVote",
    "NodeLogits",
    "LinearSubset",
    "fit_linear_subset",
    "node_loss",
    "vote",
    "certified_pixels",
    "soft_vote_certificate",
    "cost",
    "planned_cost",
    "default_fan_in",
    "measured_macs",
]

READOUTS = ("vote", "linear")
WIRINGS = ("partition", "gaussian")
CLASSES = 10
CHUNK_ELEMENTS = 2**19
"""How many gathered input values one block of nodes may hold (2 MiB of float32): small
enough to stay in the CPU cache, large enough that each batched matrix product is big."""


# ----------------------------------------------------------------------------
# Wiring builders (notebooks 08 and 09)
# ----------------------------------------------------------------------------


def divisors(n: int) -> list[int]:
    """All divisors of ``n`` in increasing order. Notebook 08 (group sizes must divide N)."""
    n = check_int(n, "n")
    return [d for d in range(1, n + 1) if n % d == 0]


def nearest_divisor(n: int, target: float) -> int:
    """The divisor of ``n`` closest to ``target`` (the smaller one on a tie). Notebook 08.

    The course's default group size for N inputs is ``nearest_divisor(N, N ** (2 / 3))``:
    98 for N = 784, where N^(2/3) is 85.
    """
    return min(divisors(n), key=lambda d: (abs(d - target), d))


def partition_repeat(n_inputs: int, group_size: int, n_outputs: int, *, seed: int = 0) -> torch.Tensor:
    """The essay's wiring: split the inputs into disjoint groups of ``group_size``, then
    repeat with a fresh random partition until there are ``n_outputs`` groups. Notebook 08.

    Returns a long tensor ``[n_outputs, group_size]``. Rows ``i*g .. (i+1)*g - 1``, with
    ``g = n_inputs // group_size``, are repetition ``i``: disjoint, covering every input
    once. If ``g`` does not divide ``n_outputs`` the last repetition is partial (its groups
    are still disjoint). ``group_size`` must divide ``n_inputs`` (so that a partition has
    no leftover inputs); otherwise a ``ValueError`` names the nearest divisors.

    With the essay's sizes (s = N^(2/3) inputs per output, M = 2N outputs) one partition
    gives N / s = N^(1/3) outputs, so M = 2N outputs take 2N / N^(1/3) = 2 N^(2/3)
    repetitions, not the essay's N^(1/3).
    """
    n_inputs = check_int(n_inputs, "n_inputs")
    group_size = check_int(group_size, "group_size")
    n_outputs = check_int(n_outputs, "n_outputs")
    if group_size > n_inputs:
        raise ValueError(f"group_size must be at most n_inputs = {n_inputs}, got {group_size}")
    if n_inputs % group_size:
        below = max(d for d in divisors(n_inputs) if d < group_size)
        above = min(d for d in divisors(n_inputs) if d > group_size)
        raise ValueError(f"group_size must divide n_inputs = {n_inputs} so that each partition uses every "
                         f"input once; {group_size} does not (nearest divisors: {below} and {above})")
    gen = torch.Generator().manual_seed(seed)
    per = n_inputs // group_size
    reps = -(-n_outputs // per)
    rows = torch.stack([torch.randperm(n_inputs, generator=gen) for _ in range(reps)]).view(reps * per, group_size)
    return rows[:n_outputs].contiguous()


def gaussian_local(image_size: int, group_size: int, n_outputs: int, *, sigma: float = 3.0,
                   seed: int = 0) -> torch.Tensor:
    """The essay's alternative: each output reads ``group_size`` distinct pixels drawn around
    a centre on the image grid, with probability proportional to exp(-d^2 / (2 sigma^2)).
    Notebook 08.

    Centres are spread evenly: output j's centre is pixel ``j mod N`` of a fixed random
    order of the N = ``image_size``^2 pixels, so every pixel is a centre about M / N times.
    Returns a long tensor ``[n_outputs, group_size]`` of flat pixel indices (row-major).
    """
    image_size = check_int(image_size, "image_size")
    group_size = check_int(group_size, "group_size")
    n_outputs = check_int(n_outputs, "n_outputs")
    n = image_size * image_size
    if group_size > n:
        raise ValueError(f"group_size must be at most image_size**2 = {n}, got {group_size}")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
        raise ValueError(f"sigma must be a number > 0 (in pixels), got {sigma!r}")
    gen = torch.Generator().manual_seed(seed)
    grid = torch.stack(torch.meshgrid(torch.arange(image_size), torch.arange(image_size), indexing="ij"), -1)
    grid = grid.reshape(n, 2).float()
    order = torch.randperm(n, generator=gen)
    centres = grid[order[torch.arange(n_outputs) % n]]
    d2 = ((centres[:, None, :] - grid[None, :, :]) ** 2).sum(-1)
    weights = torch.exp(-d2 / (2 * sigma**2)) + 1e-12  # every pixel possible, so group_size <= N always works
    return torch.multinomial(weights, group_size, replacement=False, generator=gen)


def default_fan_in(n_inputs: int, depth: int, width: int | None = None) -> list[int]:
    """The fan-in per layer that ``layered_wiring`` uses by default: the divisor of each
    layer's input count nearest N^(2/(3 depth)). Notebook 09."""
    n_inputs, depth = check_int(n_inputs, "n_inputs"), check_int(depth, "depth")
    width = 2 * n_inputs if width is None else check_int(width, "width")
    target = n_inputs ** (2 / (3 * depth))
    return [nearest_divisor(n, target) for n in [n_inputs] + [width] * (depth - 1)]


def layered_wiring(n_inputs: int, depth: int, *, fan_in: int | Sequence[int] | None = None,
                   width: int | None = None, seed: int = 0) -> list[torch.Tensor]:
    """Wiring for ``depth`` routed layers, each a partition-repeat of the layer below.
    Notebook 09.

    Every layer has ``width`` nodes (default 2N). Node j of layer l reads ``fan_in[l]``
    nodes of layer l - 1 (layer 0 is the input), chosen by ``partition_repeat``, so every
    node below feeds the same number of nodes above. The default fan-in is the divisor
    of the layer below's size nearest ``N ** (2 / (3 * depth))``: then an output's
    receptive field is at most ``N ** (2/3)`` inputs, the 2N-output net's group size, and
    the cost per layer is ``width * fan_in``, about ``N ** (1 + 2 / (3 * depth))`` in all
    (N^(4/3) at depth 2, as the essay says; towards N as depth grows).
    """
    n_inputs = check_int(n_inputs, "n_inputs")
    depth = check_int(depth, "depth")
    width = 2 * n_inputs if width is None else check_int(width, "width")
    sizes = [n_inputs] + [width] * depth
    if fan_in is None:
        fan_in = default_fan_in(n_inputs, depth, width)
    elif isinstance(fan_in, int) and not isinstance(fan_in, bool):
        fan_in = [fan_in] * depth
    fan_in = list(fan_in)
    if len(fan_in) != depth:
        raise ValueError(f"fan_in must give one group size per layer ({depth}), got {len(fan_in)}")
    return [partition_repeat(sizes[i], k, sizes[i + 1], seed=seed + 7919 * i) for i, k in enumerate(fan_in)]


@dataclass(frozen=True)
class WiringReport:
    """What ``check_wiring`` found. Notebooks 08 and 09 print it."""

    n_inputs: int
    n_outputs: int
    fan_in: tuple[int, ...]
    disjoint_repetitions: bool | None
    every_input_used: bool
    reach: int
    reach_min: int
    field_min: int
    field_max: int

    def __str__(self) -> str:
        disjoint = "n/a" if self.disjoint_repetitions is None else str(self.disjoint_repetitions)
        return (f"{self.n_inputs} inputs -> {self.n_outputs} outputs; fan-in {list(self.fan_in)}; "
                f"disjoint within repetitions: {disjoint}; every input used: {self.every_input_used}; "
                f"receptive field {self.field_min}..{self.field_max} inputs; "
                f"reach r = {self.reach} outputs (least-reaching input: {self.reach_min})")


def _as_layers(wiring: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    layers = [wiring] if isinstance(wiring, torch.Tensor) else list(wiring)
    if not layers:
        raise ValueError("wiring must hold at least one layer")
    for i, w in enumerate(layers):
        if not isinstance(w, torch.Tensor) or w.dtype != torch.long or w.dim() != 2 or w.shape[1] < 1:
            raise TypeError(f"wiring layer {i} must be a torch.long tensor [nodes, fan_in]")
    return layers


def _fields(layers: list[torch.Tensor], n_inputs: int) -> torch.Tensor:
    """Boolean ``[outputs, n_inputs]``: which inputs each output can see."""
    seen = torch.zeros(layers[0].shape[0], n_inputs, dtype=torch.bool)
    seen.scatter_(1, layers[0], True)
    for w in layers[1:]:
        reads = torch.zeros(w.shape[0], seen.shape[0]).scatter_(1, w, 1.0)
        seen = reads @ seen.float() > 0
    return seen


def reach_counts(wiring: torch.Tensor | Sequence[torch.Tensor], n_inputs: int) -> torch.Tensor:
    """For every input, how many outputs it can influence (long ``[n_inputs]``). Notebook 08."""
    return _fields(_as_layers(wiring), check_int(n_inputs, "n_inputs")).sum(0)


def check_wiring(wiring: torch.Tensor | Sequence[torch.Tensor], n_inputs: int, *,
                 repetition: int | Sequence[int | None] | None = None) -> WiringReport:
    """Check a wiring and report it: exact fan-in (no node reads an input twice), indices in
    range, disjoint groups within each repetition (``repetition`` rows per block, one per
    layer, or None to skip), every input used, receptive fields and the reach r.
    Notebooks 08 and 09.

    Raises ``ValueError`` when a node reads an index out of range or the same index twice.
    """
    layers = _as_layers(wiring)
    n_inputs = check_int(n_inputs, "n_inputs")
    reps = list(repetition) if isinstance(repetition, (list, tuple)) else [repetition] * len(layers)
    if len(reps) != len(layers):
        raise ValueError(f"repetition must give one value per layer ({len(layers)})")
    below = n_inputs
    disjoint: bool | None = None
    for i, (w, rep) in enumerate(zip(layers, reps)):
        if w.numel() and (w.min() < 0 or w.max() >= below):
            raise ValueError(f"wiring layer {i} reads indices outside 0..{below - 1}")
        if (w.sort(dim=1).values.diff(dim=1) == 0).any():
            raise ValueError(f"wiring layer {i}: some node reads the same input twice (fan-in not exact)")
        if rep is not None:
            rep = check_int(rep, "repetition")
            ok = all(len(torch.unique(block)) == block.numel() for block in w.split(rep))
            disjoint = ok if disjoint is None else disjoint and ok
        below = w.shape[0]
    seen = _fields(layers, n_inputs)
    reach = seen.sum(0)
    field = seen.sum(1)
    return WiringReport(n_inputs=n_inputs, n_outputs=layers[-1].shape[0],
                        fan_in=tuple(int(w.shape[1]) for w in layers), disjoint_repetitions=disjoint,
                        every_input_used=bool((reach > 0).all()), reach=int(reach.max()),
                        reach_min=int(reach.min()), field_min=int(field.min()), field_max=int(field.max()))


# ----------------------------------------------------------------------------
# The routed layer: every node a small MLP on its own inputs, all at once
# ----------------------------------------------------------------------------


def _block(nodes: int, per_node: int, batch: int) -> int:
    """How many nodes to compute together so that one block's working set, ``per_node``
    values per node and sample, fits CHUNK_ELEMENTS."""
    return max(1, min(nodes, CHUNK_ELEMENTS // max(1, per_node * batch)))


def _blocks(nodes: int, step: int) -> list[slice]:
    """The consecutive slices of ``step`` nodes (the last one shorter) that cover ``nodes``."""
    return [slice(start, min(start + step, nodes)) for start in range(0, nodes, step)]


class _RoutedMLP(torch.autograd.Function):
    """out[j] = w2[j] @ relu(w1[j] @ z[wiring[j]] + b1[j]) + b2[j] for every node j, in
    cache-sized blocks of nodes.

    Layout is node-major: ``z`` is ``[n, d, B]``, ``out`` is ``[M, o, B]``. Each block
    gathers its nodes' inputs with one ``index_select`` (contiguous rows), multiplies with
    one ``baddbmm``, applies the ReLU and the second ``baddbmm`` while the block's hidden
    values are still in the cache. Only the hidden values are kept for backward (written
    once, read once); backward gathers the inputs again rather than keeping them, and
    scatters the input gradient with ``index_add_``.
    """

    @staticmethod
    def forward(ctx, z: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor,
                wiring: torch.Tensor) -> torch.Tensor:
        n, d, b = z.shape
        m, s = wiring.shape
        h, o = w1.shape[1], w2.shape[1]
        z = z.contiguous()
        out = torch.empty(m, o, b, dtype=z.dtype, device=z.device)
        hidden = []
        for rows in _blocks(m, _block(m, s * d + 2 * h + o, b)):
            gathered = z.index_select(0, wiring[rows].reshape(-1)).view(-1, s * d, b)
            a = torch.baddbmm(b1[rows], w1[rows], gathered).relu_()
            torch.baddbmm(b2[rows], w2[rows], a, out=out[rows])
            hidden.append(a)
        ctx.save_for_backward(z, w1, w2, wiring, *hidden)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        z, w1, w2, wiring, *hidden = ctx.saved_tensors
        n, d, b = z.shape
        m, s = wiring.shape
        h, o = w1.shape[1], w2.shape[1]
        grad = grad.contiguous()
        need_z, need_w1, need_b1, need_w2, need_b2 = ctx.needs_input_grad[:5]
        grad_z = torch.zeros_like(z) if need_z else None
        grad_w1 = torch.empty_like(w1) if need_w1 else None
        grad_b1 = torch.empty(m, h, 1, dtype=z.dtype, device=z.device) if need_b1 else None
        grad_w2 = torch.empty_like(w2) if need_w2 else None
        for rows, a in zip(_blocks(m, _block(m, s * d + 2 * h + o, b)), hidden):
            g = grad[rows]
            if need_w2:
                torch.bmm(g, a.transpose(1, 2), out=grad_w2[rows])
            # the ReLU's backward, as autograd does it: gradient where the output is > 0, else 0
            grad_hidden = torch.ops.aten.threshold_backward(torch.bmm(w2[rows].transpose(1, 2), g), a, 0)
            if need_b1:
                torch.sum(grad_hidden, dim=2, keepdim=True, out=grad_b1[rows])
            index = wiring[rows].reshape(-1)
            if need_w1:
                gathered = z.index_select(0, index).view(-1, s * d, b)
                torch.bmm(grad_hidden, gathered.transpose(1, 2), out=grad_w1[rows])
            if need_z:
                back = torch.bmm(w1[rows].transpose(1, 2), grad_hidden)
                grad_z.index_add_(0, index, back.view(-1, d, b))
        grad_b2 = grad.sum(dim=2, keepdim=True) if need_b2 else None
        return grad_z, grad_w1, grad_b1, grad_w2, grad_b2, None


class RoutedLayer(nn.Module):
    """``M`` small MLPs, node j reading the inputs listed in ``wiring[j]``. Notebook 08.

    Input ``z`` is node-major ``[n_in, in_dim, B]`` (n_in inputs, each a vector of
    ``in_dim`` values); node j concatenates its ``s`` inputs' vectors (``s * in_dim``
    values), applies Linear -> ReLU -> Linear with its own weights (``hidden`` units) and
    gives ``out_dim`` values. Output ``[M, out_dim, B]``. All nodes are computed together,
    block by block (see ``_RoutedMLP``); there is no Python loop over nodes.
    """

    def __init__(self, wiring: torch.Tensor, *, in_dim: int = 1, hidden: int = 16, out_dim: int = CLASSES,
                 seed: int = 0) -> None:
        super().__init__()
        (wiring,) = _as_layers(wiring)
        self.in_dim = check_int(in_dim, "in_dim")
        self.hidden = check_int(hidden, "hidden")
        self.out_dim = check_int(out_dim, "out_dim")
        self.register_buffer("wiring", wiring.clone().contiguous())
        m, s = wiring.shape
        gen = torch.Generator().manual_seed(seed)
        fan1, fan2 = s * in_dim, hidden  # the init of nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        self.weight1 = nn.Parameter((torch.rand(m, hidden, fan1, generator=gen) * 2 - 1) / math.sqrt(fan1))
        self.bias1 = nn.Parameter((torch.rand(m, hidden, 1, generator=gen) * 2 - 1) / math.sqrt(fan1))
        self.weight2 = nn.Parameter((torch.rand(m, out_dim, hidden, generator=gen) * 2 - 1) / math.sqrt(fan2))
        self.bias2 = nn.Parameter((torch.rand(m, out_dim, 1, generator=gen) * 2 - 1) / math.sqrt(fan2))

    @property
    def nodes(self) -> int:
        return self.wiring.shape[0]

    @property
    def fan_in(self) -> int:
        return self.wiring.shape[1]

    def forward(self, z: torch.Tensor, nodes: int | None = None) -> torch.Tensor:
        """All nodes, or only the first ``nodes`` of them (the same numbers, less work)."""
        if z.dim() != 3 or z.shape[1] != self.in_dim:
            raise ValueError(f"z must be node-major [n_in, {self.in_dim}, B], got {list(z.shape)}")
        k = self.nodes if nodes is None else nodes
        return _RoutedMLP.apply(z, self.weight1[:k], self.bias1[:k], self.weight2[:k], self.bias2[:k],
                                self.wiring[:k])

    def macs(self) -> int:
        """Multiply-adds per input sample: M * (s * in_dim * hidden + hidden * out_dim)."""
        return self.nodes * (self.fan_in * self.in_dim * self.hidden + self.hidden * self.out_dim)

    def extra_repr(self) -> str:
        return f"nodes={self.nodes}, fan_in={self.fan_in}, in_dim={self.in_dim}, hidden={self.hidden}, out_dim={self.out_dim}"


# ----------------------------------------------------------------------------
# The networks
# ----------------------------------------------------------------------------


def vote(node_logits: torch.Tensor) -> torch.Tensor:
    """The bounded vote: log of the mean, over outputs, of each output's class probabilities.

    ``node_logits`` is ``[M, classes, B]``; returns ``[B, classes]`` log-probabilities.
    One output moves each class probability by at most 1 / M. Notebook 08.
    """
    m = node_logits.shape[0]
    return (torch.logsumexp(node_logits.log_softmax(dim=1), dim=0) - math.log(m)).t()


class RoutingNet(nn.Module):
    """Shared machinery of ``TwoNOutputNet`` and ``LayeredRoutingNet``: resizing, the stack
    of routed layers, and the two readouts (``"vote"`` and ``"linear"``). Notebook 08.

    Maps ``[B,1,28,28]`` in [0,1] to ``[B,10]``: the vote's log-probabilities, or the
    linear readout's logits. ``image_size`` other than 28 resizes the input first
    (bilinear), so N = ``image_size``^2; the cost benchmarks use it.
    """

    def __init__(self, wirings: Sequence[torch.Tensor], *, image_size: int, hidden: int, node_dim: int,
                 readout: str, seed: int) -> None:
        super().__init__()
        self.image_size = check_int(image_size, "image_size")
        self.readout = check_choice(readout, "readout", READOUTS)
        dims = [1] + [node_dim] * (len(wirings) - 1) + [CLASSES]
        self.layers = nn.ModuleList(
            RoutedLayer(w, in_dim=dims[i], hidden=hidden, out_dim=dims[i + 1], seed=seed + 101 * i)
            for i, w in enumerate(wirings))
        self.linear = nn.Linear(self.n_outputs * CLASSES, CLASSES) if readout == "linear" else None

    @property
    def n_inputs(self) -> int:
        return self.image_size**2

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].nodes

    def wirings(self) -> list[torch.Tensor]:
        return [layer.wiring for layer in self.layers]

    def report(self) -> WiringReport:
        """``check_wiring`` of this net's wiring."""
        reps = [self.n_inputs // self.layers[0].fan_in] + [
            below.nodes // layer.fan_in for below, layer in zip(self.layers, self.layers[1:])]
        return check_wiring(self.wirings(), self.n_inputs, repetition=reps)

    def reach(self) -> int:
        """r: the most outputs any one pixel can influence."""
        return int(reach_counts(self.wirings(), self.n_inputs).max())

    def node_logits(self, x: torch.Tensor, outputs: int | None = None) -> torch.Tensor:
        """Every output's own class logits, node-major ``[M, 10, B]``; with ``outputs=m``
        only the first m outputs' (the layers below are computed whole)."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be images of shape [B, 1, 28, 28], got {shape}")
        if self.image_size != 28:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        z = x.reshape(len(x), self.n_inputs).t().unsqueeze(1)
        for layer in self.layers[:-1]:
            z = layer(z)
        return self.layers[-1](z, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.node_logits(x)
        if self.readout == "vote":
            return vote(logits)
        return self.linear(logits.permute(2, 0, 1).reshape(logits.shape[2], -1))


class TwoNOutputNet(RoutingNet):
    """The essay's first network: ``n_outputs`` (default 2N) outputs, each a small MLP
    (``hidden`` units) on its own fixed group of ``group_size`` pixels (default the divisor
    of N nearest N^(2/3): 98 for MNIST's 784). Notebook 08.

    ``wiring="partition"`` uses ``partition_repeat``; ``"gaussian"`` uses ``gaussian_local``
    with width ``sigma``. ``readout`` is ``"vote"`` (bounded) or ``"linear"``.
    """

    def __init__(self, *, image_size: int = 28, n_outputs: int | None = None, group_size: int | None = None,
                 hidden: int = 16, wiring: str = "partition", sigma: float = 3.0, readout: str = "vote",
                 seed: int = 0) -> None:
        n = check_int(image_size, "image_size") ** 2
        check_choice(wiring, "wiring", WIRINGS)
        n_outputs = 2 * n if n_outputs is None else n_outputs
        group_size = nearest_divisor(n, n ** (2 / 3)) if group_size is None else group_size
        if wiring == "partition":
            w = partition_repeat(n, group_size, n_outputs, seed=seed)
        else:
            w = gaussian_local(image_size, group_size, n_outputs, sigma=sigma, seed=seed)
        super().__init__([w], image_size=image_size, hidden=hidden, node_dim=1, readout=readout, seed=seed)


class LayeredRoutingNet(RoutingNet):
    """The essay's second network: ``depth`` routed layers of ``width`` nodes (default 2N);
    each node is a small MLP on a fixed group of ``fan_in`` nodes of the layer below
    (``layered_wiring``), middle nodes give ``node_dim`` values, the top layer's nodes give
    class logits. ``readout`` as in ``TwoNOutputNet``. Notebook 09.
    """

    def __init__(self, depth: int = 2, *, image_size: int = 28, width: int | None = None,
                 fan_in: int | Sequence[int] | None = None, hidden: int = 16, node_dim: int = 4,
                 readout: str = "vote", seed: int = 0) -> None:
        n = check_int(image_size, "image_size") ** 2
        wirings = layered_wiring(n, check_int(depth, "depth"), fan_in=fan_in, width=width, seed=seed)
        super().__init__(wirings, image_size=image_size, hidden=hidden, node_dim=check_int(node_dim, "node_dim"),
                         readout=readout, seed=seed)
        self.depth = depth


def node_loss(node_logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of every output as a classifier of its own (``[M, 10, B]`` logits,
    labels ``[B]``): how the vote nets are trained, so that each output is a small classifier
    that votes with confidence. Notebook 08."""
    logp = node_logits.log_softmax(dim=1)
    return -logp.gather(1, y.view(1, 1, -1).expand(logp.shape[0], 1, -1)).mean()


class NodeLogits(nn.Module):
    """Wraps a routing net so that calling it gives ``node_logits`` (for ``train.fit`` with
    ``loss_fn=node_loss``); it shares the net's weights."""

    def __init__(self, net: RoutingNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.node_logits(x)


class SoftenedVote(nn.Module):
    """A surrogate of a vote readout for adaptive attacks (notebook 11): the mean, over
    outputs, of each output's class log-probabilities (the log of their geometric mean)
    instead of the log of their arithmetic mean. Where the outputs agree, the vote's own
    gradient nearly vanishes; this one does not. An attack follows its gradient, and its
    success is then judged on the real vote. Shares the net's weights."""

    def __init__(self, net: RoutingNet) -> None:
        super().__init__()
        if not isinstance(net, RoutingNet) or net.readout != "vote":
            raise TypeError(f"net must be a RoutingNet with the vote readout, got {type(net).__name__}")
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.node_logits(x).log_softmax(dim=1).mean(dim=0).t()


class VoteSubset(nn.Module):
    """The vote of only the first ``m`` outputs of a routing net (notebooks 08 and 09:
    pixels needed vs number of outputs). Shares the net's weights."""

    def __init__(self, net: RoutingNet, m: int) -> None:
        super().__init__()
        if not isinstance(net, RoutingNet):
            raise TypeError(f"net must be a RoutingNet, got {type(net).__name__}")
        self.net = net
        self.m = check_int(m, "m")
        if self.m > net.n_outputs:
            raise ValueError(f"m must be at most the net's {net.n_outputs} outputs, got {m}")
        self.readout = "vote"
        self.n_inputs = net.n_inputs
        self.image_size = net.image_size

    @property
    def n_outputs(self) -> int:
        return self.m

    def wirings(self) -> list[torch.Tensor]:
        wirings = self.net.wirings()
        return wirings[:-1] + [wirings[-1][: self.m]]

    def reach(self) -> int:
        return int(reach_counts(self.wirings(), self.n_inputs).max())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return vote(self.net.node_logits(x, self.m))


class LinearSubset(nn.Module):
    """A learned linear readout over the first ``m`` outputs of a frozen routing net
    (notebook 08: pixels needed vs number of outputs, linear readout). Train it with
    ``fit_linear_subset``; the net's own weights are not trained again."""

    def __init__(self, net: RoutingNet, m: int) -> None:
        super().__init__()
        if not isinstance(net, RoutingNet):
            raise TypeError(f"net must be a RoutingNet, got {type(net).__name__}")
        self.m = check_int(m, "m")
        if self.m > net.n_outputs:
            raise ValueError(f"m must be at most the net's {net.n_outputs} outputs, got {m}")
        self.net = [net]  # a list: the frozen net is not a sub-module, so fit trains only the readout
        self.linear = nn.Linear(self.m * CLASSES, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and x.requires_grad):  # attacks need d/dx
            logits = self.net[0].node_logits(x, self.m)
        return self.linear(logits.permute(2, 0, 1).reshape(logits.shape[2], -1))


def fit_linear_subset(net: RoutingNet, m: int, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 3,
                      seed: int = 0, progress: bool = True) -> LinearSubset:
    """Train a ``LinearSubset`` readout of ``m`` outputs on ``(x, y)`` (Adam, one-cycle,
    peak lr 1e-2, batch 128) with the net frozen in eval mode. Notebook 08."""
    from .train import fit

    torch.manual_seed(seed)
    readout = LinearSubset(net.eval(), m)
    fit(readout, x, y, epochs=epochs, batch_size=128, lr=1e-2, seed=seed, progress=progress,
        desc=f"linear readout of {m} outputs")
    net.eval()
    return readout.eval()


# ----------------------------------------------------------------------------
# The vote certificate (notebook 08) and the cost (notebooks 08 and 09)
# ----------------------------------------------------------------------------


CERTIFICATES = ("tight", "simple")


def _fields_of(model: nn.Module) -> torch.Tensor:
    """Boolean ``[outputs, pixels]``: which pixels each output of a vote net can see."""
    return _fields(_as_layers(model.wirings()), model.n_inputs)


def soft_vote_certificate(q: torch.Tensor, fields: torch.Tensor, reach: int, tolerance: float) -> torch.Tensor:
    """The tight certificate from each output's own probabilities ``q`` ``[M, 10, B]``.

    For the top class a and a rival c, output j contributes (q_ja - q_jc) / M to
    p_a - p_c; changed arbitrarily it contributes at least -1 / M, so it can cost at most
    t_j = (1 + q_ja - q_jc) / M. k pixels change at most the outputs in the union of their
    reach sets, so the damage is at most the smaller of (i) the k r largest t_j and (ii)
    the k largest per-pixel totals sum_{j sees i} t_j (a union is at most the sum of its
    parts). k is certified when every rival's margin, less ``tolerance``, exceeds it.
    """
    m, classes, b = q.shape
    p = q.mean(0)  # [10, B]
    top = p.argmax(0)
    qa = q.gather(1, top.view(1, 1, b).expand(m, 1, b))  # [M, 1, B]
    terms = (1 + qa - q) / m  # [M, 10, B]; the top class's own row is 1/M everywhere, masked below
    margin = p.gather(0, top.view(1, b)) - p - tolerance  # [10, B]
    by_output = terms.sort(dim=0, descending=True).values.cumsum(0)  # [M, 10, B]
    per_pixel = torch.einsum("mcb,mn->ncb", terms, fields.to(terms.dtype))  # [N, 10, B]
    by_pixel = per_pixel.sort(dim=0, descending=True).values.cumsum(0)  # [N, 10, B]
    n = fields.shape[1]
    ks = torch.arange(1, n + 1)
    reached = (ks * reach).clamp(max=m) - 1
    damage = torch.minimum(by_output[reached], by_pixel)  # [N, 10, B]: the bound for k = 1..N pixels
    rival = torch.ones(classes, b, dtype=torch.bool)
    rival[top, torch.arange(b)] = False
    safe = (damage < margin.unsqueeze(0)) | ~rival.unsqueeze(0)  # [N, 10, B]
    holds = safe.all(dim=1) & (margin.masked_fill(~rival, 1.0).min(0).values > 0)  # [N, B]
    # damage grows with k, so the certified k is the length of the run of successes from k = 1
    return holds.long().cumprod(dim=0).sum(0)


def certified_pixels(model: nn.Module, x: torch.Tensor, *, tolerance: float = 1e-5,
                     method: str = "tight", batch_size: int = 250) -> torch.Tensor:
    """How many pixels of each image may be changed, arbitrarily, with the predicted class
    provably unchanged (long ``[B]``). Vote readout only. Notebooks 08 and 09.

    With M outputs the vote gives p_c = (1/M) * sum_j q_jc, each q_j a probability vector.

    ``method="simple"`` (derived first in notebook 08): changing one output's q_j moves
    p_a - p_c, for any two classes, by at most 2 / M. k changed pixels reach at most
    min(M, k r) outputs (r = the reach), so if the vote margin p_top - p_second exceeds
    2 min(M, k r) / M, no class can overtake the top one: the answer is the largest such k.

    ``method="tight"`` (the default) uses what each output says now: against rival c,
    output j can cost the margin at most (1 + q_ja - q_jc) / M, and the outputs k pixels
    reach are bounded both by count (k r) and by the actual reach sets of the wiring (see
    ``soft_vote_certificate``). It is never below the simple one, and sound for the same reason.

    ``tolerance`` is taken off every margin first, so float rounding can only make the
    certificate smaller; the probabilities are computed in float64 from the float32 node logits.
    """
    if not isinstance(model, (RoutingNet, VoteSubset)) or model.readout != "vote":
        raise ValueError("certified_pixels needs a routing net with the vote readout (readout='vote')")
    if model.image_size != 28:
        raise ValueError("certified_pixels needs image_size=28: resizing would spread one pixel over several inputs")
    check_choice(method, "method", CERTIFICATES)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ValueError(f"tolerance must be a number >= 0, got {tolerance!r}")
    if method == "simple":
        with torch.no_grad():
            probs = model(x).double().exp()
        top2 = probs.topk(2, dim=1).values
        gap = (top2[:, 0] - top2[:, 1] - tolerance).clamp(min=0)
        k = torch.ceil(gap * model.n_outputs / (2 * model.reach())).long() - 1
        return k.clamp(min=0)
    net, m = (model.net, model.m) if isinstance(model, VoteSubset) else (model, None)
    fields = _fields_of(model).double()
    reach = model.reach()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            q = net.node_logits(x[i : i + batch_size], m).double().softmax(dim=1)
            out.append(soft_vote_certificate(q, fields, reach, float(tolerance)))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def planned_cost(fan_in: Sequence[int], width: int, *, hidden: int, node_dim: int = 1,
                 readout: str = "vote") -> dict[str, int]:
    """Parameters and multiply-adds per sample of a routing net with ``width`` nodes in each
    layer and these fan-ins, from the formulas alone (nothing is built). Notebooks 08, 09.

    A routed layer of M nodes, fan-in s, input vectors of d values, h hidden units and o
    outputs has M (s d h + h + h o + o) parameters and M (s d h + h o) multiply-adds; the
    linear readout adds 10 M 10 + 10 parameters and 10 M 10 multiply-adds.
    """
    check_choice(readout, "readout", READOUTS)
    dims = [1] + [node_dim] * (len(fan_in) - 1) + [CLASSES]
    params = macs = 0
    for i, s in enumerate(fan_in):
        d, h, o = dims[i], hidden, dims[i + 1]
        params += width * (s * d * h + h + h * o + o)
        macs += width * (s * d * h + h * o)
    if readout == "linear":
        params += width * CLASSES * CLASSES + CLASSES
        macs += width * CLASSES * CLASSES
    return {"parameters": params, "macs": macs}


def cost(model: RoutingNet) -> dict[str, int]:
    """``planned_cost`` of a built routing net (its every layer must have the same width)."""
    widths = {layer.nodes for layer in model.layers}
    if len(widths) != 1:
        raise ValueError("cost needs every layer to have the same number of nodes")
    first = model.layers[0]
    node_dim = model.layers[1].in_dim if len(model.layers) > 1 else 1
    return planned_cost([layer.fan_in for layer in model.layers], widths.pop(), hidden=first.hidden,
                        node_dim=node_dim, readout=model.readout)


def measured_macs(model: nn.Module, x: torch.Tensor | None = None) -> float:
    """Multiply-adds per sample of one forward pass, as torch's ``FlopCounterMode`` counts
    the matrix products (FLOPs / 2). Notebooks 08 and 09 set it beside ``cost``."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(4, 1, 28, 28) if x is None else x
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() / 2 / len(x)
