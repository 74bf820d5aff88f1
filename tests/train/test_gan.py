"""The gan task against references: a hand-written two-optimizer loop, torch's BCE, a manual count of
sample quality and covered modes; its n_critic schedule; exact resume of both optimizers and the
n_critic counter (in process, and after SIGKILL); WGAN clipping; DDP parity; config errors."""

from __future__ import annotations

import copy
import json
import signal

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn
from train_testutil import GAN, KILL_CHILD, config_yaml, run_python

from danlu.cli import main
from danlu.data import load_dataset
from danlu.train import (
    TrainConfig,
    apply_overrides,
    create_task,
    fit,
    load_checkpoint,
    save_checkpoint,
    to_dict,
    train,
)
from danlu.train.config import ConfigError, LoopConfig
from danlu.train.tasks import Context
from danlu.train.tasks.gan import OBJECTIVES

NETS = {"generator": {"name": "mlp", "args": {"depth": 2, "width": 16}},
        "critic": {"name": "mlp", "args": {"depth": 2, "width": 16}}}


def _ring(n: int = 1000, std: float = 0.1):
    return load_dataset("gaussian_mixture", seed=0, n=n, classes=8, dim=2, spread=2.0, std=std)


def _adam(model, lr=0.002):
    return {"critic": torch.optim.Adam(model.critic.parameters(), lr=lr, betas=(0.5, 0.999)),
            "generator": torch.optim.Adam(model.generator.parameters(), lr=lr, betas=(0.5, 0.999))}


def test_fit_matches_hand_written_two_optimizer_loop():
    """n_critic critic steps (real vs detached fakes), then one generator step; batches from a seeded randperm chain."""
    data, steps, seed, b, n_critic = _ring().train, 45, 3, 32, 2
    task = create_task("gan", {**NETS, "n_critic": n_critic})
    torch.manual_seed(0)
    model = task.make_model(2)
    ref = copy.deepcopy(model)
    phases = []
    fit(task, model, data, steps=steps, seed=seed, batch_size=b, optimizer=_adam(model),
        callbacks=[lambda ev, eng: phases.append(eng.last.phase) if ev == "step" else None])

    noise = create_task("gan", {**NETS, "n_critic": n_critic})
    ctx = Context(device=torch.device("cpu"), seed=seed)
    opt = _adam(ref)
    x_all = data.tensors[0]
    g = torch.Generator().manual_seed(seed)
    perm, pos, epoch, done = torch.randperm(len(x_all), generator=g), 0, 0, 0
    for _ in range(steps):
        if pos + b > len(x_all):
            perm, pos, epoch = torch.randperm(len(x_all), generator=g), 0, epoch + 1
        idx = perm[pos:pos + b]
        pos += b
        z = noise.noise(idx, ctx, stream=0, epoch=epoch)  # (B, 2)
        if done < n_critic:
            with torch.no_grad():
                fake = ref.generator(z)
            s = ref.critic(torch.cat([x_all[idx], fake]))
            loss, which, done = F.softplus(-s[:b]).mean() + F.softplus(s[b:]).mean(), "critic", done + 1
        else:
            loss, which, done = F.softplus(-ref.critic(ref.generator(z))).mean(), "generator", 0
        opt[which].zero_grad(set_to_none=True)
        loss.backward()
        opt[which].step()
    assert phases[:6] == ["critic", "critic", "generator"] * 2 and epoch >= 1
    for k, v in ref.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_noise_is_a_function_of_seed_sample_and_epoch():
    task, ctx = create_task("gan"), Context(device=torch.device("cpu"), seed=5)
    z = task.noise(torch.arange(10), ctx, stream=0, epoch=0)  # (10, latent)
    assert torch.equal(task.noise(torch.tensor([7, 3]), ctx, stream=0, epoch=0), z[[7, 3]])
    fresh = create_task("gan")
    far = fresh.noise(torch.tensor([5, 3000]), ctx, stream=0, epoch=0)  # a larger table: row 5 unchanged
    assert torch.equal(far[0], z[5])
    seed6 = Context(device=torch.device("cpu"), seed=6)
    assert not torch.equal(task.noise(torch.arange(10), seed6, stream=0, epoch=0), z)  # the cache knows the seed
    for other in (fresh.noise(torch.arange(10), ctx, stream=0, epoch=1),
                  fresh.noise(torch.arange(10), ctx, stream=1, epoch=0),
                  create_task("gan").noise(torch.arange(10), Context(device=torch.device("cpu"), seed=6),
                                           stream=0, epoch=0)):
        assert not torch.equal(other, z)


def test_n_critic_schedule_steps_each_optimizer_and_schedule_its_share():
    task = create_task("gan", {**NETS, "n_critic": 3})
    torch.manual_seed(0)
    model = task.make_model(2)
    phases, engines = [], []
    fit(task, model, _ring().train, steps=23, seed=0, batch_size=32,
        callbacks=[lambda ev, eng: phases.append(eng.last.phase) if ev == "step" else engines.append(eng)])
    assert phases == (["critic"] * 3 + ["generator"]) * 5 + ["critic"] * 3
    assert task.phase_steps(23) == (18, 5)
    opts = engines[-1].optimizers
    for phase, count in (("critic", 18), ("generator", 5)):
        state = opts[phase].optimizer.state_dict()["state"]
        assert {int(s["step"]) for s in state.values()} == {count}
        assert opts[phase].schedule.last_epoch == count  # each schedule steps with its own optimizer
    assert task.critic_steps == 3


def test_objectives_against_torch_bce():
    real, fake = torch.randn(9, 1), torch.randn(9, 1)
    ns = OBJECTIVES.get("nonsaturating")()
    bce = F.binary_cross_entropy_with_logits
    torch.testing.assert_close(ns.critic_loss(real, fake),
                               bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake)))
    torch.testing.assert_close(ns.generator_loss(fake), bce(fake, torch.ones_like(fake)))
    w = OBJECTIVES.get("wasserstein")()
    torch.testing.assert_close(w.critic_loss(real, fake), fake.mean() - real.mean())
    torch.testing.assert_close(w.generator_loss(fake), -fake.mean())


def test_wasserstein_clips_the_critic_only():
    task = create_task("gan", {**NETS, "objective": "wasserstein", "clip": 0.05, "n_critic": 3})
    torch.manual_seed(0)
    model = task.make_model(2)
    fit(task, model, _ring().train, steps=12, seed=0, batch_size=32,
        optimizer={"critic": torch.optim.RMSprop(model.critic.parameters(), lr=0.01),
                   "generator": torch.optim.RMSprop(model.generator.parameters(), lr=0.01)})
    critic = torch.cat([p.flatten() for p in model.critic.parameters()])
    assert critic.abs().max() <= 0.05 and (critic.abs() == 0.05).any()
    assert max(p.abs().max() for p in model.generator.parameters()) > 0.05


def test_metrics_equal_a_manual_count():
    """quality = share of samples within 3 sigma of the nearest mean; modes = means with >= 1/4 of a fair share."""
    splits = _ring()
    task = create_task("gan", {"latent_dim": 2})
    task.setup(splits.train)
    centers, sigma = task.centers, task.sigma
    assert 0.08 < sigma < 0.12  # the ring's std is 0.1
    g = torch.Generator().manual_seed(0)
    n = len(splits.val)
    points = torch.randn(n, 2, generator=g) * 3  # mostly far from the ring
    points[: n // 2] = centers[torch.arange(n // 2) % 3] + 0.05 * torch.randn(n // 2, 2, generator=g)  # 3 modes
    points[n // 2: n // 2 + 4] = centers[5]  # a mode with too few samples to count
    task.noise = lambda index, ctx, *, stream, epoch: points[index]  # the generator below is the identity
    critic = nn.Linear(2, 1)
    from danlu.train.tasks.gan import GAN as Pair

    model = Pair(nn.Identity(), critic)
    loader = torch.utils.data.DataLoader(task.prepare(splits.val), batch_size=50)
    got = task.evaluate(model, loader, Context(device=torch.device("cpu")))
    dist, nearest = torch.cdist(points, centers).min(1)
    good = dist <= 3 * sigma
    counts = torch.bincount(nearest[good], minlength=8)
    assert got["quality"] == pytest.approx(good.sum().item() / n, abs=1e-12)
    assert got["modes"] == float((counts >= 0.25 * n / 8).sum()) == 3.0
    with torch.no_grad():
        real_s, fake_s = critic(splits.val.tensors[0]), critic(points)
    bce = F.binary_cross_entropy_with_logits
    assert got["d_loss"] == pytest.approx((bce(real_s, torch.ones_like(real_s))
                                           + bce(fake_s, torch.zeros_like(fake_s))).item(), rel=1e-5)
    assert got["g_loss"] == pytest.approx(bce(fake_s, torch.ones_like(fake_s)).item(), rel=1e-5)


def test_gan_learns_the_ring():
    splits = _ring(n=2000)
    task = create_task("gan", {"generator": {"name": "mlp", "args": {"depth": 2, "width": 64}},
                               "critic": {"name": "mlp", "args": {"depth": 2, "width": 64}}})
    torch.manual_seed(0)
    model = task.make_model(2)
    untrained = fit(task, copy.deepcopy(model), splits.train, steps=0, seed=0, eval_data=splits.val).metrics
    trained = fit(task, model, splits.train, steps=1500, seed=0, batch_size=128, optimizer=_adam(model, 0.002),
                  eval_data=splits.val, loop=LoopConfig(eval_every=1000)).metrics
    assert untrained["val_quality"] < 0.1 and untrained["val_modes"] == 0, untrained
    assert trained["val_quality"] > 0.4 and trained["val_modes"] >= 6, trained  # seeds 0-3 gave 0.54-0.71, 8 modes


# ------------------------------------------------------------------------------ config
@pytest.mark.parametrize(("override", "pattern"), [
    ("task.args.objective=minimax9", r"task.args.objective: unknown gan objective 'minimax9'; valid: "
                                     r"nonsaturating, wasserstein"),
    ("task.args.n_critic=0", r"task.args.n_critic must be >= 1, got 0"),
    ("task.args.generator={nam: mlp}", r"task.args.generator must be \{name: MODEL, args: \{...\}\}"),
    ("task.args.critic.name=resnet9000", r"task.args.critic.name: unknown model 'resnet9000'; valid: .*mlp"),
    ("task.args.n_crit=2", r"unknown config key 'task.args.n_crit'; valid keys of section 'task.args': latent_dim"),
    ("task.args.n_critic=two", r"config field task.args.n_critic expects int, got 'two' \(str\)"),
])
def test_bad_gan_args_are_named(override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        apply_overrides(TrainConfig(), ["task.name=gan", override])


def test_print_config_documents_gan_fields(capsys):
    assert main(["train", "task.name=gan", "task.args.n_critic=5", "--print-config"]) == 0
    text = capsys.readouterr().out
    assert "args:  # fields of task gan" in text
    assert "n_critic: 5  # critic steps per generator step" in text
    assert "objective: nonsaturating  # nonsaturating (Goodfellow et al. 2014) or wasserstein" in text
    for section in ("model:  # the network (not used by task gan)", "loss:  # the loss (not used by task gan)"):
        assert section in text
    assert yaml.safe_load(text) == to_dict(apply_overrides(TrainConfig(), ["task.name=gan", "task.args.n_critic=5"]))


# ------------------------------------------------------------------------------ exact resume
def _gan_cfg(tmp_path, out, *extra):
    return apply_overrides(TrainConfig(), [*GAN, "checkpoint.every_steps=7", "checkpoint.keep_last=20",
                                           f"out_dir={tmp_path / out}", *extra])


def _assert_same_run(a: dict, b: dict) -> None:
    assert a["loop"] == b["loop"] and a["task"] == b["task"]
    for k, v in a["model"].items():
        assert torch.equal(b["model"][k], v), k
    for phase in ("critic", "generator"):
        sa, sb = a["optimizer"][phase]["state"], b["optimizer"][phase]["state"]
        assert sa.keys() == sb.keys() and sa
        for i in sa:
            for key in ("step", "exp_avg", "exp_avg_sq"):
                assert torch.equal(sa[i][key], sb[i][key]), (phase, i, key)
        assert a["schedule"][phase] == b["schedule"][phase]


def test_in_process_resume_keeps_both_optimizers_and_the_n_critic_counter(tmp_path):
    """Interrupted at step 17 (checkpoint at step 14: 2 of 3 critic steps into a cycle), resumed, compared."""
    full = train(_gan_cfg(tmp_path, "full"))

    def stop(event, engine):
        if event == "step" and engine.state.step == 17:
            raise KeyboardInterrupt

    cfg = _gan_cfg(tmp_path, "cut")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, callbacks=[stop])
    at14 = load_checkpoint(tmp_path / "cut" / "checkpoints" / "ckpt-00000014.pt")
    assert at14["task"] == {"critic_steps": 2}
    _assert_same_run(load_checkpoint(tmp_path / "full" / "checkpoints" / "ckpt-00000014.pt"), at14)
    resumed = train(cfg, resume=True)
    final = f"ckpt-{full.state.step:08d}.pt"
    _assert_same_run(load_checkpoint(tmp_path / "full" / "checkpoints" / final),
                     load_checkpoint(tmp_path / "cut" / "checkpoints" / final))
    assert resumed.metrics == {**full.metrics}
    strip = [{k: v for k, v in json.loads(line).items() if k != "samples/s"}
             for line in (tmp_path / "full" / "log.jsonl").read_text().splitlines()]
    mine = [{k: v for k, v in json.loads(line).items() if k != "samples/s"}
            for line in (tmp_path / "cut" / "log.jsonl").read_text().splitlines()]
    assert mine == strip

    # the counter matters: resuming the same checkpoint with the counter reset ends elsewhere
    at14["task"] = {"critic_steps": 0}
    save_checkpoint({k: v for k, v in at14.items() if k not in ("format", "version")}, tmp_path / "reset.pt")
    wrong = train(_gan_cfg(tmp_path, "reset"), resume=tmp_path / "reset.pt")
    assert any(not torch.equal(wrong.model.state_dict()[k], v) for k, v in full.model.state_dict().items())


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    cfg = tmp_path / "gan.yaml"
    cfg.write_text(config_yaml([*GAN, "checkpoint.every_steps=5", "checkpoint.keep_last=3"]))
    (tmp_path / "child.py").write_text(KILL_CHILD)
    run_python(["-m", "danlu", "train", str(cfg), "--out", str(tmp_path / "ref"), "--quiet"])
    proc = run_python([str(tmp_path / "child.py"), str(cfg), str(tmp_path / "cut"), "mid_epoch", "27"], check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    latest = load_checkpoint(sorted((tmp_path / "cut" / "checkpoints").glob("ckpt-*.pt"))[-1])
    assert latest["loop"]["step"] == 25 and latest["task"] == {"critic_steps": 1}  # killed mid-cycle
    resumed = run_python(["-m", "danlu", "train", str(cfg), "--out", str(tmp_path / "cut"), "--resume", "--quiet"])
    assert "resumed from step 25" in resumed.stdout

    def final(run):
        return load_checkpoint(sorted((tmp_path / run / "checkpoints").glob("ckpt-*.pt"))[-1])

    _assert_same_run(final("ref"), final("cut"))
    assert (json.loads((tmp_path / "cut" / "metrics.json").read_text())
            == json.loads((tmp_path / "ref" / "metrics.json").read_text()))


def test_two_process_gloo_matches_single_process_with_double_batch(tmp_path):
    """Each network under its own DDP; 2 processes x batch 16 against 1 process x batch 32 (~8 s)."""
    common = [*GAN, "loop.epochs=1"]
    out = tmp_path / "ddp"
    run_python(["-m", "danlu", "train", *common, "data.batch_size=16", "--out", str(out), "--quiet", "--nproc", "2"],
               timeout=400)
    ddp = load_checkpoint(sorted((out / "checkpoints").glob("ckpt-*.pt"))[-1])
    single = train(apply_overrides(TrainConfig(), [*common, "data.batch_size=32", f"out_dir={tmp_path / 'one'}"]))
    assert ddp["loop"]["step"] == single.state.step > 0 and ddp["task"] == {"critic_steps": single.state.step % 4}
    for k, v in single.model.state_dict().items():
        torch.testing.assert_close(ddp["model"][k], v, rtol=1e-4, atol=1e-5)
    cfg = apply_overrides(TrainConfig(), common)
    task = create_task("gan", cfg.task.args)
    torch.manual_seed(0)
    start = task.make_model(2).state_dict()
    assert max((ddp["model"][k] - v).abs().max().item() for k, v in start.items()) > 1e-3  # trained, not initial

    # the metrics the 2 ranks report (summed across ranks) equal one process's metrics of those weights
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["processes"] == 2
    splits = load_dataset(cfg.data.name, seed=0, **cfg.data.args)
    task.setup(splits.train)
    model = task.make_model(2)
    model.load_state_dict(ddp["model"])
    loader = torch.utils.data.DataLoader(task.prepare(splits.val), batch_size=256)
    one = task.evaluate(model, loader, Context(device=torch.device("cpu"), split="val"))
    assert metrics["val_quality"] == one["quality"] and metrics["val_modes"] == one["modes"]
    assert metrics["val_d_loss"] == pytest.approx(one["d_loss"], rel=1e-5)
