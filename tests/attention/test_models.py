"""The tiny causal LM: every kind plugs in, causality holds end to end, a short run learns."""

from __future__ import annotations

import pytest
import torch

from danlu.attention import list_attentions
from danlu.attention.models import TinyCausalLM, TinyLMConfig, train_lm
from danlu.errors import DanluError


@pytest.mark.parametrize("kind", list_attentions())
def test_lm_is_causal_for_every_kind(kind):
    torch.manual_seed(0)
    m = TinyCausalLM(TinyLMConfig(vocab=11, attention=kind, dim=16, depth=1, heads=2)).double().eval()
    x = torch.randint(0, 11, (2, 20))
    x2 = x.clone()
    x2[:, 12:] = (x2[:, 12:] + 1) % 11
    a, b = m(x), m(x2)
    assert a.shape == (2, 20, 11)
    torch.testing.assert_close(a[:, :12], b[:, :12], rtol=1e-9, atol=1e-9)


def test_short_training_beats_chance():
    r = train_lm("softmax", task_kwargs={"n": 600, "pairs": 2, "keys": 4, "values": 4}, steps=120, dim=32, depth=1,
                 heads=2, batch_size=32)
    assert r["test_accuracy"] > 0.4 and r["losses"][-1] < r["losses"][0]      # chance is 0.25


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(DanluError, match="unknown attention kind 'rnn'"):
        TinyCausalLM(TinyLMConfig(vocab=5, attention="rnn"))
