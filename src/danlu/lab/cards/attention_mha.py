"""att-mha: CNN vs RNN vs self-attention, path length and cost vs sequence length n, measured (d2l §11.6).

d2l's "Comparing CNNs, RNNs, and Self-Attention" (n tokens of width d, kernel k):

    ==============  =================  ================  ====================
                    compute            sequential ops    maximum path length
    CNN             O(k n d²)          O(1)              O(n / k)
    RNN             O(n d²)            O(n)              O(n)
    self-attention  O(n² d)            O(1)              O(1)
    ==============  =================  ================  ====================

Every entry is measured on real torch modules, none computed from the formula:

* Maximum path length, by gradient reachability. ``steps`` sequential applications are made
  (CNN: that many ``nn.Conv1d`` layers (tanh between, "same" padding); RNN: that many
  ``nn.RNNCell`` recurrence steps, reading right to left so that position 0 is read last;
  self-attention: that many danlu ``MultiHeadAttention`` layers). Input j is reached when the
  gradient of output position 0 with respect to input j is non-zero; its path length is the
  smallest ``steps`` that reaches it, and the maximum path length is the largest over j.
* Sequential operations: module calls one forward pass over the whole sequence makes, counted with
  forward hooks, for a fixed-depth stack (CNN: ``depth`` conv layers; RNN: one cell per token;
  self-attention: ``depth`` layers).
* Compute: FLOPs of one layer over n tokens (RNN: one recurrence over the sequence), counted by
  ``torch.utils.flop_counter.FlopCounterMode``.
* Time of the same layer, single-thread CPU time in ``repeats`` interleaved rounds
  (:mod:`danlu.lab.cards._attention_common`).

Slopes are least-squares slopes of log(measure) on log(n); FLOP and time slopes use the largest
half of the n grid (fixed overheads fade there). The self-attention layer is danlu's
MultiHeadAttention, checked against ``torch.nn.MultiheadAttention`` with the same weights.
"""

from __future__ import annotations

import torch
from torch import nn

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards._attention_common import best_of, loglog_slope
from danlu.lab.evidence import Decision, Estimate, all_of, decide, estimate
from danlu.lab.threads import one_thread, single_threaded

ARCHS = ("CNN", "RNN", "self-attention")
GROWS, FLAT, MID = 0.8, 0.2, 1.5
PARITY_TOL = 1e-5


def verdict(path_slope: dict[str, float], cnn_over_rnn_path: float, seq_slope: dict[str, float],
            flop_slope: dict[str, float], time_slope: dict[str, Estimate], parity: float) -> Decision:
    """Held iff all of the following, where slopes are of log(measure) on log(n):
    (path) the maximum-path-length slope is >= 0.8 for CNN and RNN and <= 0.2 for self-attention,
    and at the largest n the CNN's path is at most 0.75x the RNN's (kernel 5 reaches 2 tokens per
    layer: 0.5x ideal); (sequential ops) slope >= 0.8 for RNN and <= 0.2 for CNN and
    self-attention; (FLOPs) slope > 1.5 for self-attention and < 1.5 for CNN and RNN; (time) the
    95% interval of self-attention's time slope lies wholly above 1.5 and CNN's and RNN's wholly
    below 1.5; and danlu's MultiHeadAttention matches torch.nn.MultiheadAttention within 1e-5.
    Not held if an exact measure misses its bound or a time interval lies wholly on the wrong
    side of 1.5; inconclusive if a time interval contains 1.5.

    Margins: 0.8 / 0.2 split slope 1 (grows as n) from 0 (constant) for counts that are exact;
    1.5 is midway between linear and quadratic, 0.5 from either, and the round-to-round spread
    of a CPU-time slope is about ±0.1, carried by the interval.
    """
    exact = (path_slope["CNN"] >= GROWS and path_slope["RNN"] >= GROWS and path_slope["self-attention"] <= FLAT
             and cnn_over_rnn_path <= 0.75
             and seq_slope["RNN"] >= GROWS and seq_slope["CNN"] <= FLAT and seq_slope["self-attention"] <= FLAT
             and flop_slope["self-attention"] > MID and flop_slope["CNN"] < MID and flop_slope["RNN"] < MID
             and parity <= PARITY_TOL)
    return all_of(exact, decide(time_slope["self-attention"], MID),
                  decide(time_slope["CNN"], MID, higher_is_better=False),
                  decide(time_slope["RNN"], MID, higher_is_better=False))


class _Conv(nn.Module):
    """Conv1d over (B, N, d) tokens with "same" padding and tanh (never a zero gradient)."""

    def __init__(self, d: int, k: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(d, d, k, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x.transpose(1, 2)).transpose(1, 2))


class _SelfAttention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        from danlu.attention import MultiHeadAttention

        # the tiled reference, not "auto": on CPU auto runs torch's fused SDPA, whose FLOPs
        # torch.utils.flop_counter does not count (the card measures the algorithm's cost)
        self.mha = MultiHeadAttention(d, heads, batch_first=True, backend="reference")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mha(x, x, x)[0]


def _rnn_over(cell: nn.RNNCell, x: torch.Tensor, first: int) -> torch.Tensor:
    """Right-to-left recurrence from position ``first`` down to 0 (zero state before it): x (B, N, d) -> h_0 (B, d)."""
    h = None
    for i in range(first, -1, -1):
        h = cell(x[:, i], h)
    return h


def _out0(arch: str, mods: dict, x: torch.Tensor, steps: int) -> torch.Tensor:
    """Output at position 0 after ``steps`` sequential applications."""
    if arch == "RNN":
        return _rnn_over(mods["RNN"], x, steps - 1)
    h = x
    for layer in mods[arch][:steps]:
        h = layer(h)
    return h[:, 0]


def _max_path(arch: str, mods: dict, n: int, d: int, g: torch.Generator) -> int:
    """Largest over inputs j of the fewest sequential applications whose output 0 has a non-zero gradient wrt x_j."""
    x = torch.randn(1, n, d, generator=g, dtype=torch.float64, requires_grad=True)
    path = [0] * n
    for steps in range(1, n + 1):
        grad = torch.autograd.grad(_out0(arch, mods, x, steps).sum(), x)[0]       # (1, N, d)
        for j in (grad[0].abs().sum(-1) > 0).nonzero().flatten().tolist():
            if path[j] == 0:
                path[j] = steps
        if all(path):
            return max(path)
    raise RuntimeError(f"{arch}: output 0 never reaches every input in {n} steps")


def _layer(arch: str, d: int, k: int, heads: int) -> nn.Module:
    if arch == "CNN":
        return _Conv(d, k)
    if arch == "RNN":
        return nn.RNNCell(d, d)
    return _SelfAttention(d, heads)


def _one_pass(arch: str, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One layer over all n tokens (RNN: the whole left-to-right recurrence)."""
    if arch == "RNN":
        h, outs = None, []
        for i in range(x.shape[1]):
            h = layer(x[:, i], h)
            outs.append(h)
        return torch.stack(outs, 1)
    return layer(x)


def _sequential_ops(arch: str, d: int, k: int, heads: int, depth: int, n: int) -> int:
    """Module calls in one forward pass over n tokens of a ``depth``-layer stack (RNN: one layer)."""
    layers = [_layer(arch, d, k, heads) for _ in range(1 if arch == "RNN" else depth)]
    calls = [0]
    hooks = [m.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1)) for m in layers]
    x = torch.randn(1, n, d)
    with torch.no_grad():
        for m in layers:
            x = _one_pass(arch, m, x)
    for hk in hooks:
        hk.remove()
    return calls[0]


def _parity(d: int, heads: int, g: torch.Generator) -> float:
    """max |danlu MultiHeadAttention − torch.nn.MultiheadAttention| with the same weights."""
    from danlu.attention import MultiHeadAttention

    ref = nn.MultiheadAttention(d, heads, batch_first=True)
    mine = MultiHeadAttention(d, heads, batch_first=True)
    mine.load_state_dict(ref.state_dict())
    x = torch.randn(2, 17, d, generator=g)
    with torch.no_grad():
        return (mine(x, x, x)[0] - ref(x, x, x, need_weights=False)[0]).abs().max().item()


@card(
    id="att-mha",
    title="CNN vs RNN vs self-attention: path length and cost vs n",
    claim=("Self-attention connects any two positions in one step (maximum path length O(1), O(1) sequential "
           "operations) at O(n²d) compute, while an RNN needs O(n) sequential steps and path length at O(nd²) "
           "and a CNN O(n/k) path length at O(knd²)."),
    source="note 001: self-attention and positional encoding (comparing CNNs, RNNs and self-attention)",
    area="attention",
    quick={"d": 16, "k": 5, "heads": 2, "depth": 2, "path_ns": [8, 16, 32, 48], "ns": [64, 128, 256, 512, 1024],
           "repeats": 5, "calls": 5},
    full={"path_ns": [8, 16, 32, 64, 128], "ns": [64, 128, 256, 512, 1024, 2048, 4096], "repeats": 8, "calls": 5},
    rule=verdict,
)
@single_threaded
def att_mha(ctx: CardContext) -> CardResult:
    from torch.utils.flop_counter import FlopCounterMode

    from danlu.plotting import subplots

    b = ctx.budget
    d, k, heads = b["d"], b["k"], b["heads"]
    g = torch.Generator().manual_seed(ctx.seed)
    torch.manual_seed(ctx.seed)
    pns, ns = list(b["path_ns"]), list(b["ns"])
    paths: dict[str, list[int]] = {a: [] for a in ARCHS}
    for n in pns:
        depth = n                                                       # enough layers to reach every input
        mods = {"CNN": [_layer("CNN", d, k, heads).double() for _ in range(depth)],
                "RNN": _layer("RNN", d, k, heads).double(),
                "self-attention": [_layer("self-attention", d, k, heads).double() for _ in range(2)]}
        for a in ARCHS:
            paths[a].append(_max_path(a, mods, n, d, g))
    seq = {a: [_sequential_ops(a, d, k, heads, b["depth"], n) for n in ns] for a in ARCHS}
    layers = {a: _layer(a, d, k, heads).to(ctx.device) for a in ARCHS}
    inputs = {n: torch.randn(1, n, d, generator=g).to(ctx.device) for n in ns}
    flops: dict[str, list[int]] = {a: [] for a in ARCHS}
    times: dict[str, list[list[float]]] = {a: [[] for _ in ns] for a in ARCHS}
    with torch.no_grad():
        for n in ns:
            for a in ARCHS:
                with FlopCounterMode(display=False) as fc:
                    _one_pass(a, layers[a], inputs[n])                  # also the warm-up
                flops[a].append(fc.get_total_flops())
        with one_thread(ctx.device):
            for _ in range(b["repeats"]):
                for i, n in enumerate(ns):
                    for a in ARCHS:
                        times[a][i].append(best_of(lambda a=a, n=n: _one_pass(a, layers[a], inputs[n]),
                                                   ctx.device, b["calls"]))
    half = len(ns) // 2
    tail = ns[half:]
    path_slope = {a: loglog_slope(pns, paths[a]) for a in ARCHS}
    seq_slope = {a: loglog_slope(ns, seq[a]) for a in ARCHS}
    flop_slope = {a: loglog_slope(tail, flops[a][half:]) for a in ARCHS}
    time_slope = {a: estimate([loglog_slope(tail, [times[a][i][r] for i in range(half, len(ns))])
                               for r in range(b["repeats"])]) for a in ARCHS}
    parity = _parity(d, heads, g)
    ratio = paths["CNN"][-1] / paths["RNN"][-1]
    held = verdict(path_slope, ratio, seq_slope, flop_slope, time_slope, parity)

    rows = []
    for a in ARCHS:
        rows.append({"architecture": a,
                     "max path length": " / ".join(str(p) for p in paths[a]) + f" at n = {'/'.join(map(str, pns))}",
                     "path slope": round(path_slope[a], 2),
                     "sequential ops": f"{seq[a][0]} .. {seq[a][-1]}", "seq-ops slope": round(seq_slope[a], 2),
                     "FLOPs at largest n": f"{flops[a][-1]:.3g}", "FLOP slope": round(flop_slope[a], 2),
                     "time slope": time_slope[a].describe(what="rounds", sign=False)})

    fig, axes = subplots(1, 4, width=3.3)
    style = {"CNN": ("C1", "s--"), "RNN": ("C3", "o-"), "self-attention": ("C0", "^:")}
    panels = ((axes[0, 0], pns, paths, "maximum path length", path_slope),
              (axes[0, 1], ns, seq, f"sequential module calls, depth {b['depth']}\n(CNN and self-attention coincide)",
               seq_slope),
              (axes[0, 2], ns, flops, "FLOPs of one layer", flop_slope))
    size = {"CNN": dict(ms=10, mfc="none", mew=1.6), "RNN": dict(ms=6), "self-attention": dict(ms=5)}
    for ax, xs, ys, title, sl in panels:
        for a in ARCHS:
            c, fmt = style[a]
            ax.loglog(xs, ys[a], fmt, color=c, label=f"{a} (slope {sl[a]:.2f})", **size[a])
        ax.set(xlabel="n", title=title)
        ax.set_xticks(xs, [str(x) for x in xs], minor=False)
        ax.set_xticks([], minor=True)
        ax.legend(fontsize=7)
    ax = axes[0, 3]
    for a in ARCHS:
        c, fmt = style[a]
        med = [sorted(t)[len(t) // 2] * 1e3 for t in times[a]]
        ax.loglog(ns, med, fmt, color=c, ms=6,
                  label=f"{a} ({time_slope[a].mean:.2f} ± {time_slope[a].half_width:.2f})")
    ax.set(xlabel="n", ylabel="ms (CPU time)", title="time of one layer (median)")
    ax.set_xticks(ns, [str(x) for x in ns], minor=False)
    ax.set_xticks([], minor=True)
    ax.legend(fontsize=7)
    ctx.figure("paths_and_cost", fig, caption=(
        f"Measured on torch modules (d={d}, kernel {k}): path length by gradient reachability from output 0, "
        "module calls counted by hooks, FLOPs by FlopCounterMode, single-thread CPU time; legends give slopes."))
    desc = "; ".join(f"{a}: path {path_slope[a]:.2f}, seq ops {seq_slope[a]:.2f}, FLOPs {flop_slope[a]:.2f}, "
                     f"time {time_slope[a].describe(what='rounds', sign=False)}" for a in ARCHS)
    return CardResult(
        table=rows, held=held,
        reason=(f"slopes vs n — {desc}. CNN / RNN path at n={pns[-1]}: {ratio:.2f} (needs <= 0.75). danlu "
                f"MultiHeadAttention vs torch: {parity:.1e}."),
        notes=("Path lengths count layers (CNN, self-attention) or recurrence steps (RNN); the self-attention "
               "stack's path is 1 at every n. FLOPs of self-attention grow as n² only once n exceeds ~d."),
        effects={f"time slope, {a}": (time_slope[a], time_slope[a].describe(what="rounds", sign=False)) for a in ARCHS},
        extra={"path_ns": pns, "paths": paths, "ns": ns, "sequential_ops": seq, "flops": flops, "times_s": times},
    )
