"""LR schedules: closed forms equal torch's schedulers step by step (reference: torch.optim.lr_scheduler)."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch.optim import lr_scheduler as tls

from danlu.errors import DanluError, UnknownNameError
from danlu.optim import (
    LR_FUNCTIONS,
    SCHEDULES,
    FunctionLR,
    create_schedule,
    make_lr_function,
    radam_rectification,
)
from danlu.optim import lr_functions as F

BASE = 0.1


def _opt(lr: float = BASE, momentum: float = 0.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr, momentum=momentum)


def _trace(opt: torch.optim.Optimizer, sched, steps: int) -> list[float]:
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
    return out


def _ours(fn, steps: int) -> list[float]:
    opt = _opt()
    return _trace(opt, FunctionLR(opt, fn), steps)


TORCH_PARITY = {
    "cosine": (F.Cosine(50, min_lr=0.01), lambda o: tls.CosineAnnealingLR(o, T_max=50, eta_min=0.01), 51),
    "step": (F.Step(7, 0.5), lambda o: tls.StepLR(o, step_size=7, gamma=0.5), 40),
    "multistep": (F.MultiStep((5, 12, 30), 0.3), lambda o: tls.MultiStepLR(o, [5, 12, 30], gamma=0.3), 40),
    "linear": (F.Linear(20, 0.1), lambda o: tls.LinearLR(o, 1.0, 0.1, total_iters=20), 30),
    "sgdr_t1": (F.SGDR(10, 1, min_lr=0.001), lambda o: tls.CosineAnnealingWarmRestarts(o, 10, 1, eta_min=0.001), 45),
    "sgdr_t2": (F.SGDR(5, 2), lambda o: tls.CosineAnnealingWarmRestarts(o, 5, 2), 80),
    "sgdr_t3": (F.SGDR(3, 3, min_lr=1e-3), lambda o: tls.CosineAnnealingWarmRestarts(o, 3, 3, eta_min=1e-3), 120),
    "triangular": (F.Triangular(6, min_lr=0.01),
                   lambda o: tls.CyclicLR(o, 0.01, BASE, step_size_up=6, cycle_momentum=False), 40),
    "triangular_asym": (F.Triangular(4, 9, min_lr=0.02),
                        lambda o: tls.CyclicLR(o, 0.02, BASE, step_size_up=4, step_size_down=9,
                                               cycle_momentum=False), 40),
    "triangular2": (F.Triangular(5, min_lr=0.0, mode="triangular2"),
                    lambda o: tls.CyclicLR(o, 0.0, BASE, step_size_up=5, mode="triangular2",
                                           cycle_momentum=False), 40),
    "onecycle": (F.OneCycle(37), lambda o: tls.OneCycleLR(o, max_lr=BASE, total_steps=37, cycle_momentum=False), 37),
    "onecycle_pct": (F.OneCycle(60, pct_start=0.45, div_factor=10, final_div_factor=100),
                     lambda o: tls.OneCycleLR(o, max_lr=BASE, total_steps=60, pct_start=0.45, div_factor=10,
                                              final_div_factor=100, cycle_momentum=False), 60),
    "warmup_cosine": (F.Warmup(8, F.Cosine(32), 0.1),
                      lambda o: tls.SequentialLR(o, [tls.LinearLR(o, 0.1, 1.0, total_iters=8),
                                                     tls.CosineAnnealingLR(o, T_max=32)], milestones=[8]), 40),
}


@pytest.mark.parametrize("key", sorted(TORCH_PARITY))
def test_matches_torch_scheduler(key: str) -> None:
    fn, make_torch, steps = TORCH_PARITY[key]
    opt = _opt()
    ref = _trace(opt, make_torch(opt), steps)
    ours = _ours(fn, steps)
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-12)
    # the pure function gives the same numbers with no optimizer at all
    assert [fn.lr_at(t, BASE) for t in range(steps)] == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_multiple_param_groups_scale_with_their_base_lr() -> None:
    p1, p2 = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p1], "lr": 0.1}, {"params": [p2], "lr": 0.01}])
    s = create_schedule("cosine", opt, total_steps=10, warmup_steps=2)
    for _ in range(5):
        opt.step()
        s.step()
    lrs = [g["lr"] for g in opt.param_groups]
    assert lrs[0] == pytest.approx(10 * lrs[1])


@pytest.mark.parametrize("name", LR_FUNCTIONS.names())
def test_every_schedule_composes_with_warmup(name: str) -> None:
    kw = {"step": {"step_size": 5}, "multistep": {"milestones": [5, 10]}, "sgdr": {"T_0": 6},
          "triangular": {"step_size_up": 4}}.get(name, {})
    fn = make_lr_function(name, total_steps=40, warmup_steps=10, warmup_start_factor=0.0, **kw)
    inner = make_lr_function(name, total_steps=30, **kw)
    assert fn.lr_at(0, 2.0) == 0.0
    assert fn.lr_at(5, 2.0) == pytest.approx(1.0)
    for t in range(10, 40):
        assert fn.lr_at(t, 2.0) == pytest.approx(inner.lr_at(t - 10, 2.0))
    opt = _opt()
    s = create_schedule(name, opt, total_steps=40, warmup_steps=10, **kw)
    assert _trace(opt, s, 40) == pytest.approx([fn.lr_at(t, BASE) for t in range(40)])


def test_sgdr_decay_per_cycle_and_cycle_ends() -> None:
    s = F.SGDR(T_0=4, T_mult=2, decay=0.5)
    assert [s.lr_at(t) for t in (0, 4, 12, 28)] == pytest.approx([1.0, 0.5, 0.25, 0.125])
    assert s.cycle_ends(28) == [3, 11, 27]
    # each cycle end is the lowest point of its cycle and the next step restarts
    for e in s.cycle_ends(28)[:-1]:
        assert s.lr_at(e) < s.lr_at(e + 1)
    assert F.SGDR(5).cycle_ends(17) == [4, 9, 14]


def test_scheduler_state_dict_resumes_exactly() -> None:
    opt = _opt()
    s = create_schedule("sgdr", opt, total_steps=50, T_0=7, T_mult=2)
    _trace(opt, s, 13)
    state = s.state_dict()
    opt2 = _opt()
    s2 = create_schedule("sgdr", opt2, total_steps=50, T_0=7, T_mult=2)
    s2.load_state_dict(state)
    s2.step()
    s.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"])


def test_radam_rectification_closed_form() -> None:
    # rho_t <= 5 for the first steps with beta2=0.999 (no adaptive step), then r_t rises towards 1
    assert radam_rectification(1) is None and radam_rectification(5) is None
    r = [radam_rectification(t) for t in (6, 10, 100, 1000, 100000)]
    assert all(x is not None for x in r)
    assert r == sorted(r) and 0 < r[0] < 0.2 and r[-1] == pytest.approx(1.0, abs=1e-3)


def test_radam_rectification_matches_torch_radam_step() -> None:
    """r_t is the factor torch.optim.RAdam applies: one param, known gradients, closed-form update."""
    beta1, beta2, lr, eps = 0.9, 0.999, 0.01, 1e-8
    p = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = torch.optim.RAdam([p], lr=lr, betas=(beta1, beta2), eps=eps)
    m = v = 0.0
    for t in range(1, 12):
        g = 0.3 + 0.1 * t
        p.grad = torch.tensor([g], dtype=torch.float64)
        before = p.item()
        opt.step()
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        r = radam_rectification(t, beta2)
        step = lr * m_hat if r is None else lr * r * m_hat / (math.sqrt(v / (1 - beta2**t)) + eps)
        assert before - p.item() == pytest.approx(step, rel=1e-6), t


@pytest.mark.parametrize("bad, match", [
    (lambda: create_schedule("nope", _opt(), total_steps=10), "valid: "),
    (lambda: create_schedule("cosine", _opt(), total_steps=10, warmup_steps=10), "shorter than the run"),
    (lambda: create_schedule("cosine", _opt(), total_steps=10, warmup_steps=20), "shorter than the run"),
    (lambda: create_schedule("cosine", _opt(), total_steps=0), "total_steps"),
    (lambda: create_schedule("sgdr", _opt(), total_steps=10, T_0=3, T_mult=0.5), "T_mult must be >= 1"),
    (lambda: create_schedule("sgdr", _opt(), total_steps=10, T_0=0), "T_0"),
    (lambda: create_schedule("sgdr", _opt(), total_steps=10, T_0=3, decay=1.5), "decay"),
    (lambda: create_schedule("step", _opt(), total_steps=10), "bad arguments"),
    (lambda: create_schedule("multistep", _opt(), total_steps=10, milestones=[5, 2]), "increasing"),
    (lambda: create_schedule("triangular", _opt(), total_steps=10, step_size_up=2, mode="exp"), "mode"),
    (lambda: create_schedule("onecycle", _opt(), total_steps=10, pct_start=1.2), "pct_start"),
    (lambda: F.Cosine(10).lr_at(-1), "non-negative"),
])
def test_bad_input(bad, match: str) -> None:
    with pytest.raises(DanluError, match=match):
        bad()


def test_unknown_name_lists_registered() -> None:
    with pytest.raises(UnknownNameError) as e:
        create_schedule("cosin", _opt(), total_steps=5)
    for name in ("cosine", "sgdr", "onecycle", "triangular"):
        assert name in str(e.value)
    assert set(LR_FUNCTIONS.names()) <= set(SCHEDULES.names())
