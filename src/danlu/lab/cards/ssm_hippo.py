"""ssm-hippo: HiPPO's online polynomial projection reconstructs a signal's history (note 000).

Gu, Dao, Ermon, Rudra, Ré, "HiPPO: Recurrent Memory with Optimal Polynomial Projections"
(arXiv:2008.07669). Three memories of the same size N (numbers kept at time t) watch a smooth random
signal f (a sum of 4 sinusoids of 0.5-3 cycles over [0, 1], sampled at L points) and are asked, at
the end, for f over the last H samples, for horizons H from N samples up to the whole history:

* **LegS**: the N coefficients of danlu's :func:`~danlu.ssm.hippo.online_projection` (bilinear,
  midpoint steps) over the whole history, read back by :func:`~danlu.ssm.hippo.reconstruct`;
* **LegT** with window θ = H (one memory per horizon, each sized for its window);
* **sliding window**: the last N samples exactly; older samples are predicted as the oldest stored one.

Error: RMS of (reconstruction - f) over the last H samples divided by RMS of f there. The rule
decides on the longest horizon (the whole history), where the claim says HiPPO's polynomial memory
beats keeping raw samples; the margin 2x was fixed before the first run.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.evidence import Estimate, decide, log_ratio, ratio_text, seeds_for

MARGIN = 2.0  # the window's error must exceed LegS's by more than this factor


def verdict(window_over_legs: Estimate) -> bool | None:
    """Held when, reconstructing the whole history at the end, the sliding window's relative RMS
    error exceeds LegS's (same memory size N) by more than 2x: the 95% t interval over seeds of
    log(window error / LegS error) lies wholly above log 2. Not held when it lies wholly below log 2;
    inconclusive otherwise."""
    return decide(window_over_legs, math.log(MARGIN))


def _signal(seed: int, L: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, L, dtype=torch.float64)
    freq = torch.rand(4, generator=g, dtype=torch.float64) * 2.5 + 0.5
    amp, phase = torch.randn(4, generator=g, dtype=torch.float64), torch.rand(4, generator=g, dtype=torch.float64)
    return t, (amp[:, None] * torch.sin(2 * math.pi * (freq[:, None] * t + phase[:, None]))).sum(0)


def _rel(rec: torch.Tensor, f: torch.Tensor) -> float:
    return float((rec - f).pow(2).mean().sqrt() / f.pow(2).mean().sqrt())


def _one(seed: int, L: int, N: int, horizons: list[int]) -> dict[str, Any]:
    from danlu.ssm.hippo import online_projection, reconstruct

    t, f = _signal(seed, L)
    dt = 1.0 / (L - 1)
    c_legs = online_projection(f, N, dt, "legs")[-1]
    out: dict[str, Any] = {"legs": [], "legt": [], "window": [], "curves": {}}
    for H in horizons:
        x, fh = t[-H:], f[-H:]
        rec_s = reconstruct(c_legs, x, 1.0, "legs")
        theta = (H - 1) * dt if H < L else 1.0
        c_legt = online_projection(f, N, dt, "legt", theta=theta)[-1]
        rec_t = reconstruct(c_legt, x, 1.0, "legt", theta)
        rec_w = fh.clone()
        if H > N:
            rec_w[:H - N] = f[-N]                                                   # older than the window: hold
        out["legs"].append(_rel(rec_s, fh))
        out["legt"].append(_rel(rec_t, fh))
        out["window"].append(_rel(rec_w, fh))
        if horizons[-1] == H:
            out["curves"] = {"t": x, "f": fh, "LegS": rec_s, "LegT": rec_t, "window": rec_w}
    return out


def _figure(ctx: CardContext, res: list[dict[str, Any]], horizons: list[int], N: int) -> None:
    from danlu.plotting import subplots

    fig, axes = subplots(1, 2, width=4.6)
    ax = axes[0][0]
    cur = res[0]["curves"]
    ax.plot(cur["t"], cur["f"], "k", lw=2, label="signal")
    for name, style in (("LegS", "-"), ("LegT", "--"), ("window", ":")):
        ax.plot(cur["t"], cur[name], style, label=f"{name} (N = {N})")
    ax.set(xlabel="time", ylabel="f", title="reconstruction of the whole history at t = 1 (seed 0)")
    ax.legend(fontsize=7)
    ax = axes[0][1]
    for name in ("legs", "legt", "window"):
        ax.loglog(horizons, [sum(r[name][i] for r in res) / len(res) for i in range(len(horizons))], "o-",
                  label={"legs": "LegS", "legt": "LegT (θ = horizon)", "window": "sliding window"}[name])
    ax.set(xlabel="horizon H (samples)", ylabel="relative RMS error", title=f"mean over {len(res)} seeds")
    ax.legend(fontsize=7)
    ctx.figure("hippo_reconstruction", fig, caption="Left: the signal and the three memories' reconstructions "
               "of its whole history. Right: relative RMS error against the memory horizon.")


@card(id="ssm-hippo", title="HiPPO online polynomial projection",
      claim="HiPPO's online projection onto Legendre polynomials reconstructs a signal's history from N "
            "coefficients, better than keeping the last N samples once the horizon exceeds N.",
      source="note 000: state-space models (HiPPO)", area="ssm", rule=verdict,
      quick={"seeds": 5, "L": 1000, "N": 16, "horizons": [16, 64, 256, 1000]},
      full={"seeds": 12, "L": 4000, "N": 32, "horizons": [32, 128, 512, 2048, 4000]})
def ssm_hippo(ctx: CardContext) -> CardResult:
    b = ctx.budget
    seeds = seeds_for(ctx.seed, b["seeds"])
    horizons, N = list(b["horizons"]), b["N"]
    res = [_one(s, b["L"], N, horizons) for s in seeds]
    ratio = log_ratio([r["window"][-1] for r in res], [r["legs"][-1] for r in res])
    ratio_t = log_ratio([r["window"][-1] for r in res], [r["legt"][-1] for r in res])
    held = verdict(ratio)
    _figure(ctx, res, horizons, N)

    def mean(name: str, i: int) -> float:
        return sum(r[name][i] for r in res) / len(res)

    table = [{"horizon (samples)": H, "LegS rel. error": mean("legs", i), "LegT rel. error": mean("legt", i),
              "sliding window rel. error": mean("window", i)} for i, H in enumerate(horizons)]
    t_s, t_t = ratio_text(ratio, "seeds"), ratio_text(ratio_t, "seeds")
    reason = (f"N = {N} numbers of memory, L = {b['L']} samples: over the whole history the sliding window's error "
              f"is {t_s} LegS's ({mean('legs', -1):.3g} vs {mean('window', -1):.3g}; held needs above {MARGIN:g}x), "
              f"and {t_t} LegT's (θ = the whole history).")
    return CardResult(table=table, held=held, reason=reason,
                      effects={"window error / LegS error, whole history": (ratio, t_s),
                               "window error / LegT error, whole history": (ratio_t, t_t)},
                      extra={"seeds": seeds})
