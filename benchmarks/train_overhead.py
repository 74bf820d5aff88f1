"""Engine overhead per task: danlu's training engine vs a hand-written torch loop of the same task.

Each row trains the same network on the same data with the same optimizer(s), once through the
engine and once through a bare loop written for that task alone; steps/s is the CPU time of this
process (``time.process_time``, all its threads, so other jobs on a shared machine do not skew it)
from the end of the first optimizer step to the end of the last (start-up, final evaluation and
checkpoint are outside the window; epoch-end evaluation and checkpoints are off so that both
loops do the same work). Runs are interleaved; the median of the repeats is reported.

Rows:

- ``classification / Trainer``: ``danlu train``'s path (config, DistributedSampler loader, meters,
  NaN guard, LR schedule, JSONL log and progress bar every 10 steps) vs a DataLoader loop.
- ``classification / fit``: the lab cards' path (``_tricks_common.train`` -> ``fit``) vs the cards'
  own mini-loop as it was before the engine (in-memory tensors, seeded permutations).
- ``gan / Trainer`` and ``gan / fit``: the gan task (critic and generator in turns, n_critic = 2)
  vs a hand-written two-optimizer loop on the same batches.

    OMP_NUM_THREADS=1 python benchmarks/train_overhead.py --steps 300 --repeats 5

Target: engine / hand-written >= 0.95 for every task.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import tempfile
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from danlu.data import load_dataset
from danlu.models import create_model
from danlu.optim import create_optimizer, create_schedule
from danlu.runtime import seed_everything
from danlu.train import TrainConfig, Trainer, apply_overrides, create_task, fit
from danlu.train.config import LoopConfig


def _stamps_per_s(stamps: list[float]) -> float:
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def _stamp(stamps: list[float]) -> Callable:
    return lambda ev, eng: stamps.append(time.process_time()) if ev == "step" else None


# ------------------------------------------------------------------------------ classification
CLASSIFICATION = {
    "cnn/mnist5k (default)": (["model.name=cnn", "data.name=mnist5k", "data.batch_size=64"],
                              "mnist5k", {}, "cnn", {"in_channels": 1, "num_classes": 10, "widths": [16, 32, 64],
                                                     "norm": "bn", "image_size": 28}),
    "mlp/digits (tiny steps)": (["model.name=mlp", "model.args={depth: 2, width: 128}", "data.name=digits",
                                 "data.args={flatten: true}", "data.batch_size=32"],
                                "digits", {"flatten": True}, "mlp",
                                {"in_features": 64, "num_classes": 10, "depth": 2, "width": 128}),
}


def trainer_steps_per_s(overrides: list[str], steps: int, progress: bool) -> float:
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = apply_overrides(TrainConfig(), [*overrides, "loop.epochs=1000", f"loop.max_steps={steps}",
                                              "loop.eval_every=1000", "checkpoint.every_epochs=0",
                                              f"log.progress={str(progress).lower()}", f"out_dir={tmp}"])
        Trainer(cfg, callbacks=[_stamp(stamps)]).fit()
    return _stamps_per_s(stamps)


def bare_steps_per_s(dataset: str, data_args: dict, model_name: str, model_args: dict, batch: int,
                     steps: int) -> float:
    seed_everything(0)
    train = load_dataset(dataset, seed=0, **data_args).train
    model = create_model(model_name, **model_args)
    opt = create_optimizer("adamw", model, lr=5e-3, weight_decay=0.01)
    sched = create_schedule("cosine", opt, total_steps=steps)
    loader = torch.utils.data.DataLoader(train, batch_size=batch, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(0))
    loss_fn = nn.CrossEntropyLoss()
    stamps: list[float] = []
    model.train()
    while len(stamps) < steps:
        for x, y in loader:
            loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            stamps.append(time.process_time())
            if len(stamps) == steps:
                break
    return _stamps_per_s(stamps)


#: the cards' networks: tr-warmup's MLP (depth 4, width 128, batch 64) and a smaller one (depth 2, batch 32)
CARD_SIZES = {"mlp 4 x 128, batch 64 (tr-warmup's size)": (4, 64), "mlp 2 x 128, batch 32 (tiny steps)": (2, 32)}


def _card_mlp(depth: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = create_model("mlp", in_features=64, num_classes=10, depth=depth, width=128)
    return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def cards_fit_steps_per_s(steps: int, depth: int, batch: int) -> float:
    """The call ``_tricks_common.train`` makes (-> ``fit``), with its per-step record, plus a time stamp."""
    from danlu.train.tasks.classification import Classification

    model, opt = _card_mlp(depth)
    losses, lrs, stamps = [], [], []

    def record(event: str, engine) -> None:  # what _tricks_common.train records each step
        if event == "step":
            lrs.append(engine.last.lr)
            losses.append(engine.last.loss.item())

    fit(Classification(loss_fn=F.cross_entropy), model, load_dataset("digits", seed=0, flatten=True).train,
        steps=steps, seed=0, batch_size=batch, optimizer=opt, loop=LoopConfig(nan_guard=False),
        callbacks=[record, _stamp(stamps)])
    return _stamps_per_s(stamps)


def cards_loop_steps_per_s(steps: int, depth: int, batch: int) -> float:
    """The cards' mini-loop before the engine: seeded permutations of in-memory tensors."""
    model, opt = _card_mlp(depth)
    device = torch.device("cpu")
    x_all, y_all = (t.to(device) for t in load_dataset("digits", seed=0, flatten=True).train.tensors)
    n, b = len(x_all), batch
    g = torch.Generator().manual_seed(0)
    perm, pos = torch.randperm(n, generator=g), 0
    losses, lrs, stamps = [], [], []
    model.train()
    for _ in range(steps):
        if pos + b > n:
            perm, pos = torch.randperm(n, generator=g), 0
        idx = perm[pos:pos + b].to(device)
        pos += b
        loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        losses.append(loss.item())
        stamps.append(time.process_time())
    return _stamps_per_s(stamps)


# ------------------------------------------------------------------------------ gan
GAN_ARGS = {"n_critic": 2, "generator": {"name": "mlp", "args": {"depth": 2, "width": 128}},
            "critic": {"name": "mlp", "args": {"depth": 2, "width": 128}}}
GAN_DATA = {"n": 8000, "classes": 8, "dim": 2, "spread": 2.0, "std": 0.1}
GAN_BATCH = 128
GAN_OVERRIDES = ["task.name=gan", "task.args={n_critic: 2, generator: {name: mlp, args: {depth: 2, width: 128}}, "
                 "critic: {name: mlp, args: {depth: 2, width: 128}}}", "data.name=gaussian_mixture",
                 "data.args={n: 8000, classes: 8, dim: 2, spread: 2.0, std: 0.1}", f"data.batch_size={GAN_BATCH}",
                 "optim.name=adam", "optim.lr=0.002", "optim.weight_decay=0", "optim.args={betas: [0.5, 0.999]}",
                 "schedule.name=constant"]


def _gan_model_and_opts() -> tuple[nn.Module, dict[str, torch.optim.Optimizer]]:
    torch.manual_seed(0)
    model = create_task("gan", GAN_ARGS).make_model(2)
    return model, {k: torch.optim.Adam(getattr(model, k).parameters(), lr=0.002, betas=(0.5, 0.999))
                   for k in ("critic", "generator")}


def _gan_hand_step(model: nn.Module, opts: dict, x: torch.Tensor, z: torch.Tensor, critic_turn: bool) -> None:
    if critic_turn:
        with torch.no_grad():
            fake = model.generator(z)
        s = model.critic(torch.cat([x, fake]))
        loss = F.softplus(-s[:len(x)]).mean() + F.softplus(s[len(x):]).mean()
        opt = opts["critic"]
    else:
        loss = F.softplus(-model.critic(model.generator(z))).mean()
        opt = opts["generator"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def gan_bare_steps_per_s(steps: int, *, tensors: bool) -> float:
    """A hand-written GAN loop: n_critic critic steps then a generator step, noise from torch.randn."""
    model, opts = _gan_model_and_opts()
    train = load_dataset("gaussian_mixture", seed=0, **GAN_DATA).train
    if tensors:
        def epochs():
            x_all, g = train.tensors[0], torch.Generator().manual_seed(0)
            while True:
                perm = torch.randperm(len(x_all), generator=g)
                for i in range(len(x_all) // GAN_BATCH):
                    yield x_all[perm[i * GAN_BATCH:(i + 1) * GAN_BATCH]]
        batches = epochs()
    else:
        loader = torch.utils.data.DataLoader(train, batch_size=GAN_BATCH, shuffle=True, drop_last=True,
                                             generator=torch.Generator().manual_seed(0))
        batches = (x for _ in iter(int, 1) for x, _ in loader)
    stamps: list[float] = []
    model.train()
    for step, x in zip(range(steps), batches, strict=False):
        _gan_hand_step(model, opts, x, torch.randn(len(x), 2), step % 3 < 2)
        stamps.append(time.process_time())
    return _stamps_per_s(stamps)


def gan_trainer_steps_per_s(steps: int, progress: bool) -> float:
    return trainer_steps_per_s(GAN_OVERRIDES, steps, progress)


def gan_fit_steps_per_s(steps: int) -> float:
    model, opts = _gan_model_and_opts()
    stamps: list[float] = []
    fit(create_task("gan", GAN_ARGS), model, load_dataset("gaussian_mixture", seed=0, **GAN_DATA).train,
        steps=steps, seed=0, batch_size=GAN_BATCH, optimizer=opts, callbacks=[_stamp(stamps)])
    return _stamps_per_s(stamps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-progress", action="store_true", help="time the Trainer without the progress bar")
    args = ap.parse_args()
    progress = not args.no_progress
    cases: dict[str, tuple[Callable[[], float], Callable[[], float]]] = {}
    for name, (overrides, dataset, data_args, model_name, model_args) in CLASSIFICATION.items():
        batch = int(next(o for o in overrides if o.startswith("data.batch_size=")).split("=")[1])
        cases[f"classification / Trainer: {name}"] = (
            lambda d=dataset, a=data_args, m=model_name, k=model_args, b=batch: bare_steps_per_s(d, a, m, k, b,
                                                                                                 args.steps),
            lambda o=overrides: trainer_steps_per_s(o, args.steps, progress))
    for name, (depth, batch) in CARD_SIZES.items():
        cases[f"classification / fit (the cards' path): {name}"] = (
            lambda d=depth, b=batch: cards_loop_steps_per_s(args.steps, d, b),
            lambda d=depth, b=batch: cards_fit_steps_per_s(args.steps, d, b))
    cases["gan / Trainer: 2 x mlp-128 on the ring, n_critic 2"] = (
        lambda: gan_bare_steps_per_s(args.steps, tensors=False), lambda: gan_trainer_steps_per_s(args.steps, progress))
    cases["gan / fit: 2 x mlp-128 on the ring, n_critic 2"] = (
        lambda: gan_bare_steps_per_s(args.steps, tensors=True), lambda: gan_fit_steps_per_s(args.steps))
    rows = []
    for name, (bare_fn, engine_fn) in cases.items():
        bare, ours = [], []
        for _ in range(args.repeats):
            bare.append(bare_fn())
            ours.append(engine_fn())
        b, t = statistics.median(bare), statistics.median(ours)
        rows.append((name, b, t, t / b, min(o / h for o, h in zip(ours, bare, strict=True)),
                     max(o / h for o, h in zip(ours, bare, strict=True))))
    print(f"\n{datetime.date.today()}  {platform.processor() or platform.machine()}  torch {torch.__version__}  "
          f"threads {torch.get_num_threads()}  steps {args.steps}  repeats {args.repeats}")
    print("| task / path: case | hand-written steps/s | engine steps/s | engine / hand-written (median) "
          "| range of repeats |\n|---|---:|---:|---:|---|")
    for name, b, t, r, lo, hi in rows:
        print(f"| {name} | {b:.1f} | {t:.1f} | {r:.3f} | {lo:.2f}-{hi:.2f} |")


if __name__ == "__main__":
    main()
