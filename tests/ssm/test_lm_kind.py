"""The tiny Mamba LM is a kind beside the tiny attention LM (danlu.attention.models.TINY_LMS)."""

from __future__ import annotations

import pytest
import torch

from danlu.attention.models import TINY_LMS, TinyLMConfig, train_lm
from danlu.errors import DanluError
from danlu.ssm import TinySSMLM


def test_registry_builds_both_kinds():
    assert {"attention", "mamba"} <= set(TINY_LMS)
    cfg = TinyLMConfig(vocab=12, dim=16, depth=1)
    lm = TINY_LMS.get("mamba")(cfg)
    assert isinstance(lm, TinySSMLM) and lm(torch.randint(0, 12, (2, 9))).shape == (2, 9, 12)
    with pytest.raises(DanluError, match="unknown tiny LM kind 'rwkv'"):
        TINY_LMS.get("rwkv")


def test_train_lm_with_mamba_kind_is_seeded_and_learns():
    kw = dict(task="associative_recall", task_kwargs={"n": 200, "pairs": 2, "keys": 4, "values": 4}, steps=12,
              batch_size=32, dim=16, depth=1, seed=3, kind="mamba")
    a, b = train_lm("softmax", **kw), train_lm("softmax", **kw)
    assert a["losses"] == b["losses"]                                               # same seed, same run
    assert sum(a["losses"][-3:]) < sum(a["losses"][:3])                             # loss falls
