"""A fixed-wiring vote: many voters, each reading only its own group of pixels, and the
exact certificate of its hard vote. Taught in notebook 10 (the wiring sweep); the bundled
``l0_vote`` is one.

``GroupVote`` takes a grouping (``groupings.groups``: boolean ``[M, N]``) and builds M
voters. Each voter is a small MLP that sees only the pixels of its group:

* ``shared=True``: one network for all voters (as in randomized ablation, Levine and
  Feizi 2020). Voter j's first layer sums, over the pixels p of its group, a weight
  vector per pixel times the pixel's value plus a second weight vector per pixel: that is
  exactly a linear layer on the image masked to the group, stacked with the mask itself
  as a second channel. Every voter learns from every digit.
* ``shared=False``: an independent MLP per voter (the essay's 2N-output net, notebook 08).

The wiring is fixed: a pixel outside voter j's group cannot reach voter j. So if k pixels
change, only the voters whose groups hold one of them can change their vote.

Readouts (``READOUTS``): ``"soft"``, the log of the mean of the voters' class
probabilities (certified by ``routing.soft_vote_certificate``), and ``"hard"``, the class
with the most votes (ties go to the class the soft vote prefers), certified by
``certified_pixels``. Nothing happens on import.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_choice, check_images, check_int, check_nonnegative
from .data import salt_and_pepper
from .routing import node_loss, soft_vote_certificate
from .train import fit, seed_everything

__all__ = ["READOUTS", "GroupVote", "VoterLogits", "SoftSurrogate", "train_vote", "hard_vote_certificate", "certified_pixels",
           "voter_accuracy",
           "multiply_adds"]

READOUTS = ("soft", "hard")
CLASSES = 10


class GroupVote(nn.Module):
    """M voters over a fixed grouping, each an MLP on its own pixels; see the module
    docstring. Maps ``[B, 1, 28, 28]`` in [0, 1] to ``[B, 10]`` scores: the soft vote's
    log-probabilities, or for the hard vote the vote counts plus half the soft vote's
    probability (so the argmax is the class with most votes, a tie going to the soft vote's
    favourite, and attacks still get a gradient). Notebook 10."""

    def __init__(self, mask: torch.Tensor, *, hidden: Sequence[int] = (256,), shared: bool = True,
                 readout: str = "hard", seed: int = 0) -> None:
        super().__init__()
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.dim() != 2:
            raise TypeError("mask must be a boolean tensor [voters, pixels] (groupings.groups)")
        if not mask.any(1).all():
            raise ValueError("every voter must see at least one pixel")
        self.readout = check_choice(readout, "readout", READOUTS)
        self.shared = bool(shared)
        hidden = [check_int(h, "hidden") for h in hidden]
        if not hidden:
            raise ValueError("hidden must give at least one width")
        m, n = mask.shape
        size = int(mask.sum(1).max())
        order = torch.sort(mask.long(), dim=1, descending=True, stable=True).indices[:, :size]
        idx = torch.where(torch.arange(size)[None, :] < mask.sum(1, keepdim=True), order, torch.full_like(order, n))
        self.register_buffer("mask", mask.clone())
        self.register_buffer("index", idx)  # [M, s]; n marks an empty slot (a constant-zero extra pixel)
        gen = torch.Generator().manual_seed(seed)
        h0 = hidden[0]

        def init(*shape: int, fan_in: float) -> nn.Parameter:
            return nn.Parameter((torch.rand(*shape, generator=gen) * 2 - 1) / math.sqrt(fan_in))

        if shared:
            self.pixel_weight = init(n + 1, h0, fan_in=size)
            self.mask_weight = init(n + 1, h0, fan_in=size)
            self.bias = nn.Parameter(torch.zeros(h0))
            layers: list[nn.Module] = []
            for a, b in zip(hidden, hidden[1:] + [CLASSES]):
                layers += [nn.ReLU(), nn.Linear(a, b)]
            self.head = nn.Sequential(*layers)
        else:
            self.pixel_weight = init(m, size, h0, fan_in=size)
            self.bias = nn.Parameter(torch.zeros(m, h0))
            pairs = list(zip(hidden[:-1], hidden[1:]))  # voter-own hidden layers after the first
            self.hidden_weights = nn.ParameterList([init(m, a, b, fan_in=a) for a, b in pairs])
            self.hidden_biases = nn.ParameterList([nn.Parameter(torch.zeros(m, b)) for _, b in pairs])
            self.out_weight = init(m, hidden[-1], CLASSES, fan_in=hidden[-1])
            self.out_bias = nn.Parameter(torch.zeros(m, CLASSES))

    @property
    def n_voters(self) -> int:
        return self.mask.shape[0]

    @property
    def n_inputs(self) -> int:
        return self.mask.shape[1]

    def reach(self) -> int:
        """r: the most voters one pixel can influence."""
        return int(self.mask.sum(0).max())

    def voter_logits(self, x: torch.Tensor, voters: torch.Tensor | None = None) -> torch.Tensor:
        """Every voter's class logits ``[B, V, 10]`` (all M voters, or those in ``voters``)."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be images of shape [B, 1, 28, 28], got {shape}")
        flat = F.pad(x.reshape(len(x), -1), (0, 1))  # [B, N + 1], the extra pixel is 0
        idx = self.index if voters is None else self.index[voters]  # [V, s], or [B, V, s] per digit
        if idx.dim() == 3:
            if not self.shared:
                raise ValueError("per-digit voters need shared=True")
            values = flat.gather(1, idx.reshape(len(x), -1)).view(idx.shape)  # [B, V, s]
        else:
            values = flat[:, idx]  # [B, V, s]
        if self.shared:
            present = (idx < self.n_inputs).to(x.dtype).unsqueeze(-1)
            weight = self.pixel_weight[idx] * present  # [(B,) V, s, H]
            bias = (self.mask_weight[idx] * present).sum(-2) + self.bias  # the mask channel: [(B,) V, H]
            if idx.dim() == 3:
                h = (values.unsqueeze(-1) * weight).sum(-2) + bias
            else:
                h = torch.einsum("bvs,vsh->bvh", values, weight) + bias
            return self.head(h)
        v = slice(None) if voters is None else voters
        h = torch.relu(torch.einsum("bvs,vsh->bvh", values, self.pixel_weight[v]) + self.bias[v])
        for weight, bias in zip(self.hidden_weights, self.hidden_biases):
            h = torch.relu(torch.einsum("bvh,vhk->bvk", h, weight[v]) + bias[v])
        return torch.einsum("bvh,vhc->bvc", h, self.out_weight[v]) + self.out_bias[v]

    def votes(self, x: torch.Tensor) -> torch.Tensor:
        """Each voter's class ``[B, M]`` (its logits' argmax)."""
        return self.voter_logits(x).argmax(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.voter_logits(x)
        soft = torch.logsumexp(logits.log_softmax(-1), dim=1) - math.log(self.n_voters)  # [B, 10]
        if self.readout == "soft":
            return soft
        counts = F.one_hot(logits.argmax(-1), CLASSES).sum(1).to(soft.dtype)
        return counts + 0.5 * soft.exp()


class VoterLogits(nn.Module):
    """Calling it gives a ``GroupVote``'s voter logits node-major ``[V, 10, B]``, for
    ``train.fit`` with ``routing.node_loss`` (every voter trained as a classifier of its
    own). While training, a shared network sees ``voters_per_batch`` voters drawn at random
    for each batch (every voter for independent ones). Shares the vote's weights. Notebook 10."""

    def __init__(self, vote: GroupVote, voters_per_batch: int | None = None, seed: int = 0) -> None:
        super().__init__()
        self.vote = vote
        self.voters_per_batch = None if voters_per_batch is None else check_int(voters_per_batch, "voters_per_batch")
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        voters = None
        if self.training and self.voters_per_batch is not None and self.voters_per_batch < self.vote.n_voters:
            voters = torch.randperm(self.vote.n_voters, generator=self.generator)[: self.voters_per_batch]
        return self.vote.voter_logits(x, voters.to(x.device) if voters is not None else None).permute(1, 2, 0)


class SoftSurrogate(nn.Module):
    """A surrogate of a ``GroupVote`` for adaptive attacks (notebook 11, the scoreboard): the mean, over voters,
    of each voter's class log-probabilities, whose gradient does not vanish where the voters
    agree (the hard vote's counts have none). An attack follows it; success is judged on the
    vote itself. Shares the vote's weights."""

    def __init__(self, vote: GroupVote) -> None:
        super().__init__()
        if not isinstance(vote, GroupVote):
            raise TypeError(f"vote must be a GroupVote, got {type(vote).__name__}")
        self.vote = vote

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.vote.voter_logits(x).log_softmax(-1).mean(1)


def train_vote(mask: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *, shared: bool = False,
               hidden: Sequence[int] = (32,), epochs: int = 4, noise: float = 0.0, lr: float = 1e-2,
               batch_size: int = 128, voters_per_batch: int = 32, readout: str = "hard", seed: int = 0,
               progress: bool = True) -> tuple[GroupVote, dict]:
    """The one recipe of the wiring sweep (notebook 10) and of ``l0_vote``: a ``GroupVote`` on
    ``mask``, every voter trained as a classifier of its own (``routing.node_loss``) with
    Adam and a one-cycle learning rate peaking at ``lr`` (``train.fit``), salt-and-pepper
    noise on a fraction ``noise`` of the pixels (``data.salt_and_pepper``; 0 for none).
    A shared network sees ``voters_per_batch`` random voters per batch. Deterministic
    under ``seed``. Returns the model (eval mode) and a record: epochs, losses, seconds."""
    import time

    check_nonnegative(noise, "noise")
    seed_everything(seed)
    vote = GroupVote(mask, hidden=hidden, shared=shared, readout=readout, seed=seed)
    wrapper = VoterLogits(vote, voters_per_batch if shared else None, seed=seed)
    augment = (lambda xb, g: salt_and_pepper(xb, g, rate=noise)) if noise > 0 else None
    start = time.perf_counter()
    losses = fit(wrapper, x, y, epochs=epochs, batch_size=batch_size, lr=lr, augment=augment, seed=seed,
                 progress=progress, desc=f"{vote.n_voters} voters", loss_fn=node_loss)
    info = {"epochs": epochs, "losses": [round(v, 5) for v in losses], "lr": lr, "batch_size": batch_size,
            "noise": noise, "shared": shared, "hidden": list(hidden), "seed": seed,
            "train_seconds": round(time.perf_counter() - start, 1), "train_images": len(x)}
    return vote.eval(), info


def hard_vote_certificate(votes: torch.Tensor, uncertain: torch.Tensor, mask: torch.Tensor,
                          top: torch.Tensor) -> torch.Tensor:
    """The certified pixels of a hard vote, in exact integer arithmetic (long ``[B]``).
    Notebook 10.

    ``votes`` ``[B, M]``: each voter's class; ``uncertain`` ``[B, M]``: voters whose two
    best logits are too close to trust (treated as already turned against the vote);
    ``mask`` ``[M, N]``: the grouping; ``top`` ``[B]``: the vote's class.

    Against a rival c, a changed voter costs the lead n_top - n_c at most t_j = 2 if it
    votes top now, 1 if it votes a third class, 0 if it votes c. k changed pixels change
    only the voters whose groups hold one of them: their total cost is at most the
    smaller of the k r largest t_j (r the reach) and the k largest per-pixel sums of t_j
    over the voters that see the pixel. k is certified when, for every rival, the lead
    minus that bound (and minus the cost of every uncertain voter) stays above 0: so a
    tie, whichever way it would be broken, never counts as safe.
    """
    b, m = votes.shape
    r = int(mask.sum(0).max())
    counts = F.one_hot(votes, CLASSES).sum(1)  # [B, 10]
    lead = counts.gather(1, top[:, None]) - counts  # [B, 10]
    is_top = votes == top[:, None]
    result = torch.full((b,), mask.shape[1], dtype=torch.long)
    ks = torch.arange(1, mask.shape[1] + 1)
    reached = (ks * r).clamp(max=m) - 1
    fields = mask.float()  # float32 sums of integers below 2^24 are exact
    for c in range(CLASSES):
        rival = top != c
        cost = torch.where(is_top, 2, torch.where(votes == c, 0, 1))  # [B, M]
        base = (cost * uncertain).sum(1)  # [B]
        cost = cost * ~uncertain
        by_voter = cost.sort(dim=1, descending=True).values.cumsum(1)  # [B, M]
        by_pixel = (cost.float() @ fields).round().long().sort(dim=1, descending=True).values.cumsum(1)  # [B, N]
        damage = torch.minimum(by_voter[:, reached], by_pixel) + base[:, None]  # [B, N]: k = 1..N
        safe = damage < lead[:, c : c + 1]
        k = safe.long().cumprod(1).sum(1)
        k = torch.where(lead[:, c] - base > 0, k, torch.full_like(k, -1))  # not even k = 0 holds
        result = torch.where(rival, torch.minimum(result, k), result)
    return result.clamp(min=0)


def certified_pixels(model: GroupVote, x: torch.Tensor, *, tolerance: float = 1e-4, readout: str | None = None,
                     batch_size: int = 250) -> torch.Tensor:
    """How many pixels of each image may change, arbitrarily, with the vote's class provably
    the same (long ``[B]``). The hard vote: ``hard_vote_certificate``, a voter whose best two
    logits differ by at most ``tolerance`` (times the larger of 1 and the logit) counted as
    already lost, so float rounding can only lower the count. The soft vote:
    ``routing.soft_vote_certificate`` from the voters' probabilities in float64, ``tolerance``
    taken off every margin. ``readout``, if given, must be the model's own: a hard-vote
    certificate of a soft vote (or the reverse) would certify a model that is not there.
    Notebook 10."""
    if not isinstance(model, GroupVote):
        raise TypeError(f"model must be a GroupVote, got {type(model).__name__}")
    if readout is not None and check_choice(readout, "readout", READOUTS) != model.readout:
        raise ValueError(f"a {readout}-vote certificate was asked of a model whose readout is {model.readout!r}; "
                         f"set model.readout = {readout!r} first if that is the vote you mean")
    check_images(x)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ValueError(f"tolerance must be a number >= 0, got {tolerance!r}")
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            part = x[i : i + batch_size]
            logits = model.voter_logits(part)  # [B, M, 10]
            if model.readout == "soft":
                q = logits.double().softmax(-1).permute(1, 2, 0)  # [M, 10, B]
                out.append(soft_vote_certificate(q, model.mask.double(), model.reach(), float(tolerance)))
                continue
            best = logits.topk(2, dim=-1).values
            uncertain = best[..., 0] - best[..., 1] <= tolerance * best[..., 0].abs().clamp(min=1)
            top = model(part).argmax(1)
            out.append(hard_vote_certificate(logits.argmax(-1), uncertain, model.mask, top))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def voter_accuracy(model: GroupVote, x: torch.Tensor, y: torch.Tensor, batch_size: int = 250) -> float:
    """The mean, over voters and digits, of a single voter being right. Notebook 10."""
    right = total = 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            votes = model.votes(x[i : i + batch_size])
            right += int((votes == y[i : i + batch_size, None]).sum())
            total += votes.numel()
    return right / max(total, 1)


def multiply_adds(model: GroupVote) -> int:
    """Multiply-adds per digit: every voter's first layer on its own pixels (and, shared, the
    mask channel's sum), then its hidden layers. Notebook 10."""
    pixels = int(model.mask.sum())
    m = model.n_voters
    if model.shared:
        widths = [layer.out_features for layer in model.head if isinstance(layer, nn.Linear)]
        first = model.pixel_weight.shape[1]
        dims = [first] + widths
        return pixels * first + m * sum(a * b for a, b in zip(dims, dims[1:]))
    middle = sum(w.shape[1] * w.shape[2] for w in model.hidden_weights)
    return pixels * model.pixel_weight.shape[2] + m * (middle + model.out_weight.shape[1] * CLASSES)
