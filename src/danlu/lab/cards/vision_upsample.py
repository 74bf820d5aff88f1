"""vis-upsample: transposed convolutions make checkerboard artefacts; PixelShuffle+ICNR and resize-conv do not (note 002).

Odena, Dumoulin & Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016 (a 3x3 transposed
conv of stride 2 overlaps unevenly: some output pixels get more kernel taps than others); Aitken
et al., "Checkerboard artifact free sub-pixel convolution", arXiv:1707.02937 (ICNR); Shi et al.,
arXiv:1609.05158 (PixelShuffle); Long et al., arXiv:1411.4038 (bilinear-initialised transposed conv).

Model per arm: ``conv3x3(1->C) -> ReLU -> upsampler(C->C, x2) -> conv1x1(C->1)``, the arms
differing only in the upsampler (:mod:`danlu.vision.upsample`). Checkerboard energy of an output
y (interior, 4 pixels from the border): the power of its period-2 component, i.e. the variance
of the four sub-pixel phase means ``mean(y[a::2, b::2])`` (a, b in {0, 1}), divided by
``mean(y^2)``; measured on a constant input (0.5), where an artefact-free upsampler's output is
flat. At init for every arm (per seed); after training on 2x super-resolution of smooth random
images (target: 16x16 bicubic upsampling of 4x4 Gaussian noise through a sigmoid; input: its 2x2
average pool; a fresh draw per seed; MSE; Adam; equal steps,
batches, lr and seeds for every arm, through danlu.train.fit) for the trained arms.
The verdict is :func:`verdict`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from danlu.lab import CardContext, CardResult, card
from danlu.lab.evidence import Estimate, all_of, decide, estimate, log_ratio, ratio_text, seeds_for

ZERO = 1e-6      # "no checkerboard" at init: energy below this (float32 rounding level)
PRESENT = 1e-4   # "checkerboard" at init: energy above this (100x the "zero" level)
FLOOR = 1e-12    # energies are floored here before logs


def verdict(init_tconv: float, init_icnr: float, init_resize: float, trained_ratio: Estimate) -> bool | None:
    """Held when (a) at init the random transposed conv's checkerboard energy (median over seeds) is
    above 1e-4 while PixelShuffle+ICNR's and nearest resize-conv's are below 1e-6, and (b) after
    training the 95% t interval over seeds of log(energy of the transposed conv / energy of
    PixelShuffle+ICNR), paired by seed, lies wholly above 0. Not held when (a) fails or that
    interval lies wholly below 0; inconclusive when it straddles 0.
    """
    at_init = init_tconv > PRESENT and init_icnr < ZERO and init_resize < ZERO
    return all_of(at_init, decide(trained_ratio, 0.0))


def _upsamplers(c: int) -> dict[str, Any]:
    from danlu.vision.upsample import BilinearConvTranspose2d, PixelShuffleUpsample, ResizeConv

    return {
        "transposed conv 3x3 (random init)": lambda: nn.ConvTranspose2d(c, c, 3, stride=2, padding=1,
                                                                        output_padding=1),
        "transposed conv 4x4 (bilinear init)": lambda: BilinearConvTranspose2d(c, 2),
        "PixelShuffle (random init)": lambda: PixelShuffleUpsample(c, c, 2, icnr=False),
        "PixelShuffle + ICNR": lambda: PixelShuffleUpsample(c, c, 2, icnr=True),
        "resize-conv (nearest)": lambda: ResizeConv(c, c, 2, "nearest"),
        "resize-conv (bilinear)": lambda: ResizeConv(c, c, 2, "bilinear"),
    }


TRAINED = ("transposed conv 3x3 (random init)", "transposed conv 4x4 (bilinear init)", "PixelShuffle + ICNR",
           "resize-conv (nearest)")


def _model(make: Any, c: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, c, 3, padding=1), nn.ReLU(), make(), nn.Conv2d(c, 1, 1))


def checkerboard_energy(y: Tensor, border: int = 4) -> float:
    """Period-2 power of y (B, C, H, W) (H, W even) over its total power, interior only."""
    y = y[..., border:y.shape[-2] - border, border:y.shape[-1] - border].double()
    phases = torch.stack([y[..., a::2, b::2].mean((-1, -2)) for a in (0, 1) for b in (0, 1)])  # (4, B, C)
    periodic = (phases - phases.mean(0, keepdim=True)).square().mean()
    return float(periodic / y.square().mean().clamp(min=FLOOR))


@torch.no_grad()
def _probe(model: nn.Module, side: int = 16) -> tuple[float, Tensor]:
    model.eval()
    y = model(torch.full((1, 1, side, side), 0.5))
    return checkerboard_energy(y), y[0, 0]


def smooth_images(n: int, side: int, seed: int) -> Tensor:
    """``n`` smooth random images (n, 1, side, side) in [0, 1]: bicubic upsampling of 4x4 Gaussian noise."""
    g = torch.Generator().manual_seed(seed)
    z = F.interpolate(torch.randn(n, 1, 4, 4, generator=g), size=(side, side), mode="bicubic", align_corners=False)
    return torch.sigmoid(2 * z)


def _data(n: int, seed: int) -> tuple[TensorDataset, TensorDataset]:
    x = smooth_images(n, 16, seed)             # targets (n, 1, 16, 16)
    xt = smooth_images(256, 16, 10_000 + seed)
    return TensorDataset(F.avg_pool2d(x, 2), x), TensorDataset(F.avg_pool2d(xt, 2), xt)


def _train(model: nn.Module, train: TensorDataset, b: dict[str, Any], seed: int) -> None:
    from danlu.train import fit
    from danlu.train.config import LoopConfig
    from danlu.train.tasks.classification import Classification

    opt = torch.optim.Adam(model.parameters(), lr=b["lr"])
    model.train()
    fit(Classification(loss_fn=F.mse_loss), model, train, steps=b["steps"], seed=seed, batch_size=b["batch"],
        optimizer=opt, loop=LoopConfig(nan_guard=False))


def _figure(ctx: CardContext, outs: dict[str, tuple[Tensor, Tensor]], med: dict[str, dict[str, float]]) -> None:
    from danlu.plotting import subplots

    names = list(outs)
    fig, axes = subplots(2, len(names), width=2.3, height=2.4)
    for j, name in enumerate(names):
        for i, (when, y) in enumerate(zip(("init", "trained"), outs[name], strict=True)):
            ax = axes[i][j]
            e = med[when].get(name)
            if e is None:
                ax.axis("off")
                continue
            patch = y[4:20, 4:20]
            rms = float(patch.square().mean().sqrt())
            m = float(patch.mean())
            # a fixed scale per patch: mean +- 10% of its rms, so rounding noise looks flat
            ax.imshow(patch.numpy(), cmap="magma", vmin=m - 0.1 * rms, vmax=m + 0.1 * rms, interpolation="nearest")
            ax.set(xticks=[], yticks=[], title=f"{name}\n{when}: E={e:.1e}")
            ax.title.set_fontsize(7)
    ctx.figure("checkerboard", fig, caption="Output of each upsampler's model on a constant input (16x16 interior "
               "crop, colour scale: mean +- 10% of the rms), at init (top) and after training on 2x super-resolution "
               "(bottom; first seed; blank: arm not trained). E: checkerboard energy (median over seeds). A flat "
               "patch is artefact-free; a 2x2 pattern is a checkerboard.")


@card(id="vis-upsample", title="Checkerboard artefacts of upsampling layers",
      claim="A stride-2 transposed convolution produces checkerboard artefacts, at init and after training, "
            "where PixelShuffle with ICNR initialisation and resize-convolution do not.",
      source="note 002: upsampling (PixelShuffle, nearest, bilinear, transposed convolution)", area="vision",
      rule=verdict,
      quick={"seeds": 4, "channels": 8, "n_train": 512, "steps": 60, "batch": 32, "lr": 3e-3},
      full={"seeds": 8, "channels": 16, "n_train": 4096, "steps": 600})
def vis_upsample(ctx: CardContext) -> CardResult:
    b = ctx.budget
    seeds = seeds_for(ctx.seed, b["seeds"])
    makers = _upsamplers(b["channels"])
    init: dict[str, list[float]] = {n: [] for n in makers}
    trained: dict[str, list[float]] = {n: [] for n in TRAINED}
    mse: dict[str, list[float]] = {n: [] for n in TRAINED}
    pics: dict[str, list[Tensor]] = {n: [] for n in makers}
    for s in seeds:
        train, test = _data(b["n_train"], s)
        for name, make in makers.items():
            torch.manual_seed(s)
            model = _model(make, b["channels"])
            e, y = _probe(model)
            init[name].append(e)
            if s == seeds[0]:
                pics[name].append(y)
            if name not in TRAINED:
                continue
            _train(model, train, b, s)
            e, y = _probe(model)
            trained[name].append(e)
            with torch.no_grad():
                mse[name].append(float(F.mse_loss(model(test.tensors[0]), test.tensors[1])))
            if s == seeds[0]:
                pics[name].append(y)
    med = {"init": {n: float(torch.tensor(v).median()) for n, v in init.items()},
           "trained": {n: float(torch.tensor(v).median()) for n, v in trained.items()}}
    tc, icnr, rz = TRAINED[0], "PixelShuffle + ICNR", "resize-conv (nearest)"
    ratio = log_ratio([max(e, FLOOR) for e in trained[tc]], [max(e, FLOOR) for e in trained[icnr]])
    held = verdict(med["init"][tc], med["init"][icnr], med["init"][rz], ratio)
    _figure(ctx, {n: (p[0], p[1] if len(p) > 1 else p[0]) for n, p in pics.items()}, med)  # untrained: blank
    table = [{"upsampler": n, "checkerboard energy at init (median)": med["init"][n],
              "after training (median)": med["trained"].get(n, math.nan),
              "test MSE after training (mean)": sum(mse[n]) / len(mse[n]) if n in mse else math.nan}
             for n in makers]
    t_ratio = ratio_text(ratio, "seeds")
    mse_gap = estimate([a - c for a, c in zip(mse[tc], mse[icnr], strict=True)])
    reason = (f"Constant-input checkerboard energy at init: transposed conv {med['init'][tc]:.1e}, PixelShuffle+ICNR "
              f"{med['init'][icnr]:.1e}, nearest resize-conv {med['init'][rz]:.1e}; after {b['steps']} Adam steps of "
              f"2x super-resolution the transposed conv has {t_ratio} the energy of PixelShuffle+ICNR "
              f"(held needs the interval above 1x).")
    return CardResult(table=table, held=held, reason=reason,
                      effects={"trained energy ratio (transposed / ICNR)": (ratio, t_ratio),
                               "test MSE difference (transposed - ICNR)": (mse_gap, mse_gap.describe(digits=4))},
                      extra={"seeds": seeds, "init": init, "trained": trained, "mse": mse})
