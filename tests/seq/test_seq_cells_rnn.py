"""Teaching cells equal torch.nn.GRU/LSTM (float64, outputs and gradients); the RNN LM's state carry-over and TBPTT."""

from __future__ import annotations

import math

import pytest
import torch

from danlu.errors import DanluError
from danlu.seq.cells import ScratchGRUCell, ScratchLSTMCell, unroll
from danlu.seq.rnn import RNNLM, detach_state, perplexity, sequential_batches, tbptt_epoch


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_scratch_cell_equals_torch_layer(kind) -> None:
    torch.manual_seed(0)
    layer = (torch.nn.GRU if kind == "gru" else torch.nn.LSTM)(5, 7, batch_first=True).double()
    cell = (ScratchGRUCell if kind == "gru" else ScratchLSTMCell)(5, 7).double().load_from(layer)
    x = torch.randn(3, 11, 5, dtype=torch.float64)
    h0 = torch.randn(1, 3, 7, dtype=torch.float64)
    c0 = torch.randn(1, 3, 7, dtype=torch.float64)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    if kind == "gru":
        ref, _ = layer(xa, h0)
        out, _ = unroll(cell, xb, h0[0])
    else:
        ref, _ = layer(xa, (h0, c0))
        out, _ = unroll(cell, xb, (h0[0], c0[0]))
    assert (ref - out).abs().max() <= 1e-12
    w = torch.randn_like(ref)
    (ref * w).sum().backward()
    (out * w).sum().backward()
    assert (xa.grad - xb.grad).abs().max() <= 1e-12
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        assert (getattr(layer, name + "_l0").grad - getattr(cell, name).grad).abs().max() <= 1e-12


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_state_carry_over_equals_one_pass(kind) -> None:
    torch.manual_seed(0)
    lm = RNNLM(13, 6, 9, kind=kind, num_layers=2).double()
    x = torch.randint(0, 13, (2, 10))
    full = lm(x)
    a, state = lm(x[:, :4], return_state=True)
    b = lm(x[:, 4:], state)
    assert torch.allclose(torch.cat([a, b], 1), full, atol=1e-12)


def test_detach_state_truncates_the_gradient() -> None:
    torch.manual_seed(0)
    lm = RNNLM(13, 6, 9, kind="lstm")
    x = torch.randint(0, 13, (2, 10))
    emb = lm.embedding.weight
    _, state = lm(x[:, :5], return_state=True)
    loss = lm(x[:, 5:], detach_state(state)).sum()
    g_cut = torch.autograd.grad(loss, emb)[0]
    _, state = lm(x[:, :5], return_state=True)
    g_full = torch.autograd.grad(lm(x[:, 5:], state).sum(), emb)[0]
    first_only = sorted(set(x[:, :5].flatten().tolist()) - set(x[:, 5:].flatten().tolist()))
    assert first_only, "the test needs a token seen only in the first chunk"
    assert g_cut[first_only].abs().max() == 0 and g_full[first_only].abs().max() > 0


def test_sequential_batches_continue_rows_and_tbptt_learns() -> None:
    ids = torch.arange(101) % 7
    batches = list(sequential_batches(ids, batch_size=2, num_steps=5))
    assert torch.equal(batches[1][0][:, 0], batches[0][0][:, -1] + 1 - 7 * (batches[0][0][:, -1] == 6))
    assert all(torch.equal(y[:, :-1], x[:, 1:]) for x, y in batches)
    torch.manual_seed(0)
    lm = RNNLM(7, 8, 16, kind="gru")
    opt = torch.optim.Adam(lm.parameters(), lr=0.05)
    first = tbptt_epoch(lm, ids, opt, batch_size=2, num_steps=5)
    for _ in range(15):
        last = tbptt_epoch(lm, ids, opt, batch_size=2, num_steps=5, clip=1.0)
    assert last < 1.5 < first  # a periodic sequence becomes predictable


def test_perplexity_of_uniform_model_is_vocab_size() -> None:
    lm = RNNLM(11, 4, 4)
    torch.nn.init.zeros_(lm.head.weight)
    torch.nn.init.zeros_(lm.head.bias)
    x = torch.randint(0, 11, (3, 6))
    assert perplexity(lm, x, x) == pytest.approx(11.0)
    assert math.isfinite(perplexity(RNNLM(11, 4, 4), x, x))


def test_bidirectional_and_generate_shapes() -> None:
    lm = RNNLM(9, 4, 5, kind="gru", bidirectional=True, num_layers=2)
    assert lm(torch.zeros(2, 3, dtype=torch.long)).shape == (2, 3, 9)
    assert RNNLM(9, 4, 5).generate(torch.ones(2, 3, dtype=torch.long), 4).shape == (2, 7)


def test_bad_input() -> None:
    with pytest.raises(DanluError, match="outside"):
        RNNLM(5, 4, 4)(torch.tensor([[7]]))
    with pytest.raises(DanluError, match="long tensor"):
        RNNLM(5, 4, 4)(torch.zeros(2, 3))
    with pytest.raises(DanluError, match="unknown rnn kind"):
        RNNLM(5, 4, 4, kind="tcn")
    with pytest.raises(DanluError, match="too few"):
        list(sequential_batches(torch.arange(5), 2, 5))
