"""danlu.seq.Transformer equals torch.nn.Transformer with copied weights (float64, both norm_first, masks)."""

from __future__ import annotations

import pytest
import torch

from danlu.errors import DanluError
from danlu.seq.transformer import Seq2SeqTransformer, Transformer

pytestmark = [pytest.mark.filterwarnings("ignore:enable_nested_tensor:UserWarning"),
              pytest.mark.filterwarnings("ignore:Support for mismatched:UserWarning")]


def pair(norm_first: bool, activation: str = "relu"):
    torch.manual_seed(0)
    ref = torch.nn.Transformer(16, 4, 2, 2, 24, dropout=0.0, batch_first=True, norm_first=norm_first,
                               activation=activation).double()
    mine = Transformer(16, 4, 2, 2, 24, dropout=0.0, norm_first=norm_first, activation=activation).double()
    mine.load_state_dict(ref.state_dict())  # strict: every torch name exists here
    return ref, mine


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("masks", ["none", "causal+padding", "bool+memory"])
def test_outputs_and_gradients_equal_torch(norm_first, masks) -> None:
    ref, mine = pair(norm_first, "gelu" if masks == "bool+memory" else "relu")
    g = torch.Generator().manual_seed(1)
    src = torch.randn(3, 7, 16, dtype=torch.float64, generator=g)
    tgt = torch.randn(3, 5, 16, dtype=torch.float64, generator=g)
    kw = {}
    if masks != "none":
        pad = torch.zeros(3, 7, dtype=torch.bool)
        pad[1, 5:], pad[2, 3:] = True, True
        tpad = torch.zeros(3, 5, dtype=torch.bool)
        tpad[0, 4:] = True
        kw = {"src_key_padding_mask": pad, "memory_key_padding_mask": pad, "tgt_key_padding_mask": tpad}
        if masks == "causal+padding":
            kw["tgt_mask"] = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
        else:
            kw["tgt_mask"] = torch.ones(5, 5, dtype=torch.bool).triu(1)
            kw["memory_mask"] = torch.zeros(5, 7, dtype=torch.bool)
            kw["memory_mask"][:, 0] = True
    outs, grads = [], []
    for model in (ref, mine):
        s, t = src.clone().requires_grad_(), tgt.clone().requires_grad_()
        out = model(s, t, **kw)
        (out * torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view_as(out)).sum().backward()
        outs.append(out.detach())
        grads.append([s.grad, t.grad, *(p.grad for p in model.parameters())])
    assert (outs[0] - outs[1]).abs().max() <= 1e-6
    names = [n for n, _ in ref.named_parameters()]
    assert names == [n for n, _ in mine.named_parameters()]
    for a, b in zip(grads[0], grads[1], strict=True):
        assert (a - b).abs().max() <= 1e-6


@pytest.mark.parametrize("kind", ["linear", "performer", "softmax"])
def test_kind_switch_replaces_self_attention(kind) -> None:
    torch.manual_seed(0)
    m = Seq2SeqTransformer(12, d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32,
                           dropout=0.0, kind=kind)
    src, tgt = torch.randint(4, 12, (2, 6)), torch.randint(4, 12, (2, 4))
    logits = m(src, torch.tensor([6, 4]), tgt)
    assert logits.shape == (2, 4, 12) and torch.isfinite(logits).all()
    # causal by construction: changing a later target token leaves earlier logits unchanged
    tgt2 = tgt.clone()
    tgt2[:, -1] = (tgt2[:, -1] + 1 - 4) % 8 + 4
    assert torch.allclose(m(src, torch.tensor([6, 4]), tgt2)[:, :-1], logits[:, :-1], atol=1e-5)
    with pytest.raises(DanluError, match="masks other than key padding"):
        Transformer(16, 2, 1, 1, 32, kind=kind)(torch.randn(1, 3, 16), torch.randn(1, 2, 16),
                                                 tgt_mask=torch.ones(2, 2, dtype=torch.bool).triu(1))


def test_incremental_decoding_equals_teacher_forcing() -> None:
    torch.manual_seed(0)
    m = Seq2SeqTransformer(10, d_model=16, nhead=2, dim_feedforward=32, dropout=0.0).eval()
    src, src_len, tgt = torch.randint(4, 10, (3, 6)), torch.tensor([6, 3, 5]), torch.randint(1, 10, (3, 5))
    full = m(src, src_len, tgt)
    state, steps = m.start(src, src_len), []
    for t in range(tgt.shape[1]):
        logits, state = m.decoder(tgt[:, t:t + 1], state)
        steps.append(logits)
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)
    # source padding is ignored: changing a padded position changes nothing
    src2 = src.clone()
    src2[1, 4] = 9 if src[1, 4] != 9 else 8
    assert torch.allclose(m(src2, src_len, tgt), full, atol=1e-6)


def test_bad_input() -> None:
    with pytest.raises(DanluError, match="divisible"):
        Transformer(10, 3)
    with pytest.raises(DanluError, match="expected src"):
        Transformer(8, 2, 1, 1, 16)(torch.randn(2, 3, 4), torch.randn(2, 3, 8))
    with pytest.raises(DanluError, match="outside the vocabulary"):
        Seq2SeqTransformer(5, d_model=8, nhead=2)(torch.tensor([[7, 1]]), torch.tensor([2]), torch.tensor([[1]]))
