"""The Trainer against references: a hand-written torch loop, manual EMA, manual accuracy, exact resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from danlu.data import load_dataset
from danlu.errors import DanluError
from danlu.losses import LOSSES
from danlu.models import create_model
from danlu.runtime import seed_everything
from danlu.train import Trainer, TrainingDiverged, load_checkpoint, train

PLAIN = ["optim.name=sgd", "optim.weight_decay=0", "schedule.name=constant", "model.args={depth: 2, width: 32}"]


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _reference_loop(epochs: int, batch: int, lr: float, seed: int = 0) -> nn.Module:
    """A bare torch loop: same seed, same documented data order (randperm seeded by seed + epoch)."""
    seed_everything(seed)
    splits = load_dataset("digits", seed=seed, flatten=True)
    model = create_model("mlp", in_features=64, num_classes=10, depth=2, width=32)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    x_all, y_all = splits.train.tensors
    for epoch in range(epochs):
        perm = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(seed + epoch))
        for i in range(len(perm) // batch):
            idx = perm[i * batch:(i + 1) * batch]
            loss = nn.functional.cross_entropy(model(x_all[idx]), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model


def test_trainer_matches_hand_written_loop(tiny):
    result = train(tiny(*PLAIN))
    ref = _reference_loop(epochs=2, batch=32, lr=0.01)
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(result.model.state_dict()[k], v, rtol=0, atol=0)


def test_accumulation_equals_the_larger_batch(tiny):
    big = train(tiny(*PLAIN, "data.batch_size=32", out="big"))
    acc = train(tiny(*PLAIN, "data.batch_size=16", "loop.accum_steps=2", out="acc"))
    assert big.state.step == acc.state.step
    for k, v in big.model.state_dict().items():
        torch.testing.assert_close(acc.model.state_dict()[k], v, rtol=1e-5, atol=1e-6)


def test_val_metrics_equal_manual_computation(tiny):
    result = train(tiny())
    x, y = load_dataset("digits", seed=0, flatten=True).val.tensors
    result.model.eval()
    with torch.no_grad():
        logits = result.model(x)
    assert result.metrics["val_accuracy"] == pytest.approx((logits.argmax(1) == y).sum().item() / len(y), abs=1e-12)
    assert result.metrics["val_loss"] == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)


def test_ema_matches_manual_average(tiny):
    decay = 0.9
    seen: list[dict[str, torch.Tensor]] = []
    result = train(tiny(*PLAIN, f"loop.ema_decay={decay}", "loop.epochs=1"),
                   callbacks=[lambda ev, tr: seen.append(_weights(tr.model)) if ev == "step" else None])
    ema = dict(seen[0])
    for w in seen[1:]:
        ema = {k: decay * ema[k] + (1 - decay) * w[k] for k in ema}
    for k, v in ema.items():
        torch.testing.assert_close(result.model.state_dict()[k], v, rtol=1e-5, atol=1e-6)
    assert not torch.equal(ema["head.weight"], seen[-1]["head.weight"])


def test_in_process_resume_is_bit_identical(tiny):
    """Interrupt (exception) mid-epoch with dropout, EMA, accumulation, clipping; resume; compare."""
    extra = ["checkpoint.every_steps=4", "loop.ema_decay=0.9", "loop.accum_steps=2", "loop.grad_clip=0.5"]
    full = train(tiny(*extra, out="full"))

    def stop(event, tr):
        if event == "step" and tr.state.step == 14:
            raise KeyboardInterrupt

    cfg = tiny(*extra, out="cut")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, callbacks=[stop])
    resumed = train(cfg, resume=True)
    assert resumed.state.step == full.state.step
    for k, v in full.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[k], v), k
    a = load_checkpoint(sorted((full.run_dir / "checkpoints").glob("ckpt-*.pt"))[-1])
    b = load_checkpoint(sorted((resumed.run_dir / "checkpoints").glob("ckpt-*.pt"))[-1])
    for k, v in a["model"].items():
        assert torch.equal(b["model"][k], v), k
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    assert resumed.metrics["val_accuracy"] == full.metrics["val_accuracy"]


def test_existing_run_is_not_overwritten(tiny):
    train(tiny(out="r"))
    with pytest.raises(DanluError, match="already holds checkpoints; pass --resume"):
        train(tiny(out="r"))


class _NaNAfter(nn.Module):
    """Cross-entropy that turns NaN on calls listed in ``bad`` (counted across instances of a run)."""

    calls = 0
    bad: set[int] = set()

    def forward(self, logits, target):
        type(self).calls += 1
        loss = nn.functional.cross_entropy(logits, target)
        return loss * float("nan") if type(self).calls in self.bad and self.training else loss


if "test_nan_after" not in LOSSES:
    LOSSES.add("test_nan_after", _NaNAfter)


def test_nan_guard_skips_step_and_keeps_weights(tiny):
    _NaNAfter.calls, _NaNAfter.bad = 0, {7}
    seen: list[dict[str, torch.Tensor]] = []
    result = train(tiny(*PLAIN, "loss.name=test_nan_after", "loop.epochs=1"),
                   callbacks=[lambda ev, tr: seen.append(_weights(tr.model)) if ev == "step" else None])
    assert result.state.bad_steps == 1
    for k in seen[6]:  # step 7 was skipped: weights after it equal those after step 6
        assert torch.equal(seen[6][k], seen[5][k])
    assert not torch.equal(seen[7]["head.weight"], seen[6]["head.weight"])
    assert all(torch.isfinite(v).all() for v in result.model.state_dict().values())
    log = (result.run_dir / "log.jsonl").read_text()
    assert '"kind": "bad_step", "step": 7' in log


def test_nan_guard_stops_after_max_bad_steps_and_keeps_last_checkpoint(tiny):
    _NaNAfter.calls, _NaNAfter.bad = 0, set(range(8, 1000))
    cfg = tiny(*PLAIN, "loss.name=test_nan_after", "loop.max_bad_steps=3", "checkpoint.every_steps=5")
    with pytest.raises(TrainingDiverged, match=r"stopped at step 10: 3 steps had a NaN/inf .*checkpoint .* is intact"):
        train(cfg)
    ckpts = sorted((cfg_dir := __import__("pathlib").Path(cfg.out_dir) / "checkpoints").glob("ckpt-*.pt"))
    assert [p.name for p in ckpts] == ["ckpt-00000005.pt"], cfg_dir
    state = load_checkpoint(ckpts[0])
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_bf16_autocast_is_used_on_cpu(tiny):
    dtypes: set[torch.dtype] = set()

    def hook(event, tr):
        if event == "step" and tr.state.step == 1:
            tr.model.head.register_forward_hook(lambda m, i, o: dtypes.add(o.dtype))

    result = train(tiny("loop.precision=bf16"), callbacks=[hook])
    assert torch.bfloat16 in dtypes
    assert result.metrics["val_accuracy"] > 0.5
    assert all(v.dtype == torch.float32 for v in result.model.state_dict().values())


def test_fp16_without_cuda_is_a_clear_error(tiny):
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(DanluError, match="loop.precision='fp16' needs CUDA"):
        Trainer(tiny("loop.precision=fp16")).fit()


def test_data_path_tensor_file(tiny, tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g)
    y = (x[:, 0] > 0).long()
    torch.save({"x": x, "y": y}, tmp_path / "blobs.pt")
    result = train(tiny(f"data.path={tmp_path / 'blobs.pt'}", "data.args={}", "loop.epochs=3"))
    assert result.metrics["val_accuracy"] > 0.8


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_cuda_mixed_precision_trains_and_resumes(tiny, precision):
    """fp16 uses a GradScaler whose state is checkpointed; both precisions learn on CUDA."""
    cfg = tiny(f"loop.precision={precision}", "device=cuda", "checkpoint.every_steps=10")
    result = train(cfg)
    assert result.metrics["val_accuracy"] > 0.5
    state = load_checkpoint(sorted((result.run_dir / "checkpoints").glob("ckpt-*.pt"))[-1])
    if precision == "fp16":
        assert state["scaler"]["scale"] > 0
    resumed = train(cfg, resume=True)  # already finished: restores every piece of state and re-evaluates
    assert resumed.state.step == result.state.step
