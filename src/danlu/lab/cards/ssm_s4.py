"""ssm-s4: the S4D convolution kernel equals the recurrent form; time against length for both (note 000).

Gu, Gupta, Goel, Ré, "On the Parameterization and Initialization of Diagonal State Space Models"
(S4D, arXiv:2206.11893); state-spaces/s4. For random S4D parameters (complex128: dt log-uniform,
Re A < 0, random Im A and C), danlu's FFT convolution with the Vandermonde kernel
(:func:`~danlu.ssm.s4d.s4d_kernel`, :func:`~danlu.ssm.s4d.fft_conv`) and the step-by-step
recurrence (:func:`~danlu.ssm.s4d.s4d_recurrence`) are run on the same float64 inputs at odd
lengths; the maximum relative difference decides the verdict (tolerance 1e-10, fixed before the
first run: float64 rounding over an FFT of these lengths is ~1e-14).

Timing (float32, one layer of H channels, forward): both forms at increasing L, repeated; the
slope of log(time) against log(L) per repeat is reported with its interval (the convolution is
O(L log L) work in a few large ops, the recurrence O(L) work in L small sequential steps).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards._attention_common import loglog_slope, seconds
from danlu.lab.evidence import Estimate, estimate, log_ratio, ratio_text, seeds_for
from danlu.lab.threads import one_thread

TOL = 1e-10


def verdict(max_rel_err: float) -> bool | None:
    """Held when the FFT convolution equals the recurrence in float64: the largest relative difference
    max|conv - rec| / max|rec| over all seeds and lengths is below 1e-10. Not held when it is above;
    inconclusive when it is not a finite number."""
    if not math.isfinite(max_rel_err):
        return None
    return max_rel_err < TOL


def _params(seed: int, H: int, n_half: int, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    dt = torch.exp(torch.rand(H, generator=g, dtype=torch.float64) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
    A = torch.complex(-torch.rand(H, n_half, generator=g, dtype=torch.float64) - 0.05,
                      torch.randn(H, n_half, generator=g, dtype=torch.float64) * 10)
    C = torch.complex(torch.randn(H, n_half, generator=g, dtype=torch.float64),
                      torch.randn(H, n_half, generator=g, dtype=torch.float64))
    cdt = torch.complex128 if dtype == torch.float64 else torch.complex64
    return dt.to(dtype), A.to(cdt), C.to(cdt)


_CPU = torch.device("cpu")  # the timing sweep runs on the CPU: the clock is this thread's CPU time


def _timings(b: dict[str, Any], seed: int) -> dict[str, list[list[float]]]:
    from danlu.ssm.s4d import fft_conv, s4d_kernel, s4d_recurrence

    dt, A, C = _params(seed, b["H"], b["n_half"], torch.float32)
    out: dict[str, list[list[float]]] = {"convolution (FFT)": [], "recurrence": []}
    with torch.no_grad(), one_thread():
        for _ in range(b["repeats"]):
            rows: dict[str, list[float]] = {k: [] for k in out}
            for L in b["lengths"]:
                u = torch.randn(1, b["H"], L)
                for name, fn in (("convolution (FFT)", lambda u=u, L=L: fft_conv(u, s4d_kernel(dt, A, C, L))),
                                 ("recurrence", lambda u=u: s4d_recurrence(u, dt, A, C))):
                    rows[name].append(seconds(fn, _CPU))
            for k in out:
                out[k].append(rows[k])
    return out


def _figure(ctx: CardContext, lengths: list[int], times: dict[str, list[list[float]]]) -> None:
    from danlu.plotting import subplots

    fig, axes = subplots(1, 1, width=4.6)
    ax = axes[0][0]
    for name, reps in times.items():
        med = [sorted(r[i] for r in reps)[len(reps) // 2] * 1e3 for i in range(len(lengths))]
        ax.loglog(lengths, med, "o-", label=name)
    ax.set(xlabel="sequence length L", ylabel="forward time (ms, median)", title="S4D layer kernel: two forms")
    ax.legend(fontsize=7)
    ctx.figure("s4d_time_vs_length", fig, caption="Forward time of the S4D SSM as an FFT convolution and as a "
               "recurrence, against L (log-log).")


@card(id="ssm-s4", title="S4D: convolution equals recurrence",
      claim="The S4D convolution kernel (Vandermonde product, FFT convolution) computes exactly what the "
            "recurrent state space computes.",
      source="note 000: state-space models (S4)", area="ssm", rule=verdict,
      quick={"seeds": 3, "check_lengths": [63, 255, 1023], "H": 32, "n_half": 32,
             "lengths": [256, 512, 1024, 2048], "repeats": 3},
      full={"seeds": 8, "check_lengths": [63, 255, 1023, 4095], "lengths": [256, 512, 1024, 2048, 4096, 8192],
            "repeats": 5})
def ssm_s4(ctx: CardContext) -> CardResult:
    from danlu.ssm.s4d import fft_conv, s4d_kernel, s4d_recurrence

    b = ctx.budget
    seeds = seeds_for(ctx.seed, b["seeds"])
    table: list[dict[str, Any]] = []
    worst = 0.0
    for s in seeds:
        dt, A, C = _params(s, 8, 16, torch.float64)
        for L in b["check_lengths"]:
            u = torch.randn(2, 8, L, dtype=torch.float64, generator=torch.Generator().manual_seed(s))
            conv, rec = fft_conv(u, s4d_kernel(dt, A, C, L)), s4d_recurrence(u, dt, A, C)
            err = float((conv - rec).abs().max() / rec.abs().max())
            worst = max(worst, err) if math.isfinite(err) else err
            table.append({"seed": s, "L": L, "max |conv - rec| / max |rec| (float64)": err})
    held = verdict(worst)
    times = _timings(b, ctx.seed)
    lengths = list(b["lengths"])
    slopes = {k: estimate([loglog_slope(lengths, r) for r in reps]) for k, reps in times.items()}
    speed = log_ratio([r[-1] for r in times["recurrence"]], [r[-1] for r in times["convolution (FFT)"]])
    for i, L in enumerate(lengths):
        table.append({"L": L, **{f"{k} ms (median)": sorted(r[i] for r in reps)[len(reps) // 2] * 1e3
                                 for k, reps in times.items()}})
    _figure(ctx, lengths, times)
    t_conv, t_rec = slopes["convolution (FFT)"].describe(what="repeats"), slopes["recurrence"].describe(what="repeats")
    t_speed = ratio_text(speed)
    reason = (f"largest relative difference between the FFT convolution and the recurrence over {len(seeds)} seeds "
              f"and L in {list(b['check_lengths'])}: {worst:.1e} (held needs below {TOL:g}). Time slopes "
              f"(log time / log L, L {lengths[0]}-{lengths[-1]}): convolution {t_conv}, recurrence {t_rec}; at "
              f"L = {lengths[-1]} the recurrence takes {t_speed} the convolution's time.")
    return CardResult(table=table, held=held, reason=reason,
                      effects={"max relative difference conv vs recurrence (float64)": (Estimate.of(worst, 0.0, n=1),
                                                                                        f"{worst:.1e}"),
                               "time slope, convolution": (slopes["convolution (FFT)"], t_conv),
                               "time slope, recurrence": (slopes["recurrence"], t_rec),
                               f"recurrence / convolution time at L = {lengths[-1]}": (speed, t_speed)},
                      extra={"seeds": seeds})
