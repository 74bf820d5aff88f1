"""Encoder-decoder: masked CE (vs F.cross_entropy), Bahdanau attention (vs a hand-written reference),
teacher forcing = step-by-step, greedy = beam 1, beam >= V^L = exhaustive search, batching-invariant beams."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from danlu.errors import DanluError
from danlu.seq.decode import beam_search, greedy_decode
from danlu.seq.encdec import masked_cross_entropy, seq2seq_gru
from danlu.seq.transformer import Seq2SeqTransformer
from danlu.seq.vocab import EOS_ID


def test_masked_cross_entropy_equals_ignore_index() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 6, 9, generator=g)
    valid = torch.tensor([6, 3, 1, 0])
    target = torch.randint(1, 9, (4, 6), generator=g)
    padded = target.masked_fill(torch.arange(6)[None] >= valid[:, None], -100)
    ref = F.cross_entropy(logits.flatten(0, 1), padded.flatten(), ignore_index=-100)
    assert masked_cross_entropy(logits, target, valid).item() == pytest.approx(ref.item(), rel=1e-6)
    per = masked_cross_entropy(logits, target, valid, reduction="none")
    assert per[3] == 0 and per[2].item() == pytest.approx(F.cross_entropy(logits[2, :1], target[2, :1]).item())
    with pytest.raises(DanluError, match="reduction"):
        masked_cross_entropy(logits, target, valid, reduction="max")


def test_bahdanau_attention_matches_hand_written_reference() -> None:
    torch.manual_seed(0)
    m = seq2seq_gru(10, 6, 8, attention=True).double()
    att = m.decoder.attention
    q, k = torch.randn(3, 1, 8, dtype=torch.float64), torch.randn(3, 5, 8, dtype=torch.float64)
    valid = torch.tensor([5, 2, 1])
    ctx, w = att(q, k, k, valid)
    for b in range(3):
        n = int(valid[b])
        s = torch.tanh(q[b] @ att.w_q.T + k[b, :n] @ att.w_k.T) @ att.w_v          # (n,)
        ref_w = torch.softmax(s, -1)
        assert torch.allclose(w[b, 0, :n], ref_w) and (w[b, 0, n:] == 0).all()
        assert torch.allclose(ctx[b, 0], ref_w @ k[b, :n])


@pytest.mark.parametrize("attention", [False, True])
def test_teacher_forcing_equals_step_by_step(attention) -> None:
    torch.manual_seed(0)
    m = seq2seq_gru(10, 6, 8, num_layers=2, attention=attention)
    src, src_len, tgt = torch.randint(4, 10, (3, 7)), torch.tensor([7, 4, 2]), torch.randint(1, 10, (3, 5))
    full = m(src, src_len, tgt)
    state, steps = m.start(src, src_len), []
    for t in range(5):
        logits, state = m.decoder(tgt[:, t:t + 1], state)
        steps.append(logits)
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-6)
    if attention:
        w = m.decoder.attention_weights                                          # (B, 1, S): the last step
        assert w.shape == (3, 1, 7) and (w[1, :, 4:] == 0).all() and torch.allclose(w.sum(-1), torch.ones(3, 1))


MODELS = {
    "gru": lambda v: seq2seq_gru(v, 6, 8),
    "attention": lambda v: seq2seq_gru(v, 6, 8, attention=True),
    "transformer": lambda v: Seq2SeqTransformer(v, d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                                dim_feedforward=16, dropout=0.0),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_beam_one_equals_greedy(name) -> None:
    torch.manual_seed(0)
    m = MODELS[name](9).eval()
    src, src_len = torch.randint(4, 9, (6, 5)), torch.tensor([5, 4, 3, 5, 2, 1])
    g = greedy_decode(m, src, src_len, max_len=7)
    b = beam_search(m, src, src_len, beam_size=1, max_len=7)
    assert torch.equal(g.tokens, b.tokens) and torch.equal(g.lengths, b.lengths)
    assert torch.allclose(g.scores, b.scores)


def sequence_logprob(model, src, src_len, seq) -> float:
    """log p(seq | src) by teacher forcing (seq without <bos>)."""
    tgt_in = torch.tensor([[1, *seq[:-1]]])
    with torch.no_grad():
            logp = torch.log_softmax(model(src, src_len, tgt_in).double(), -1)[0]   # (T, V)
    return float(logp[torch.arange(len(seq)), torch.tensor(seq)].sum())


def exhaustive(model, src, src_len, vocab: int, max_len: int, length_penalty: float):
    """Best sequence over all sequences ending in <eos> (length <= max_len) or of length max_len."""
    best, best_score = None, float("-inf")
    for n in range(1, max_len + 1):
        for seq in itertools.product(range(vocab), repeat=n):
            if EOS_ID in seq[:-1] or (n < max_len and seq[-1] != EOS_ID):
                continue
            s = sequence_logprob(model, src, src_len, list(seq)) / n ** length_penalty
            if s > best_score:
                best, best_score = list(seq), s
    return best, best_score


@pytest.mark.parametrize("name", ["attention", "transformer"])
@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_wide_beam_equals_exhaustive_search(name, length_penalty) -> None:
    torch.manual_seed(3)
    vocab, max_len = 4, 4  # ids 0..3: <pad> <bos> <eos> <unk> -- a tiny vocabulary, every token allowed
    m = MODELS[name](vocab).eval()
    head = m.decoder.dense if name == "attention" else m.decoder.generator
    with torch.no_grad():  # make <eos> likely enough that short and long hypotheses compete
        head.bias[EOS_ID] += 1.0
    src, src_len = torch.randint(0, 4, (3, 4)), torch.tensor([4, 3, 2])
    out = beam_search(m, src, src_len, beam_size=vocab ** max_len, max_len=max_len, length_penalty=length_penalty)
    for i in range(3):
        seq, score = exhaustive(m, src[i:i + 1], src_len[i:i + 1], vocab, max_len, length_penalty)
        n = int(out.lengths[i])
        assert out.tokens[i, :n].tolist() == seq
        assert float(out.scores[i]) == pytest.approx(score, abs=1e-5)


def test_batched_beam_equals_one_sentence_at_a_time() -> None:
    torch.manual_seed(1)
    m = MODELS["attention"](9).eval()
    src, src_len = torch.randint(4, 9, (5, 6)), torch.tensor([6, 5, 2, 4, 3])
    batch = beam_search(m, src, src_len, beam_size=3, max_len=6, length_penalty=0.6)
    for i in range(5):
        one = beam_search(m, src[i:i + 1], src_len[i:i + 1], beam_size=3, max_len=6, length_penalty=0.6)
        assert torch.equal(one.tokens[0], batch.tokens[i]) and torch.allclose(one.scores[0], batch.scores[i])


def test_beam_bad_input() -> None:
    m = MODELS["gru"](9)
    src, src_len = torch.randint(4, 9, (2, 3)), torch.tensor([3, 2])
    for bad in (0, -1, 1.5):
        with pytest.raises(DanluError, match="beam_size must be an integer >= 1"):
            beam_search(m, src, src_len, beam_size=bad, max_len=4)
    with pytest.raises(DanluError, match="max_len"):
        greedy_decode(m, src, src_len, max_len=0)
    with pytest.raises(DanluError, match="outside the vocabulary"):
        greedy_decode(m, torch.tensor([[99]]), torch.tensor([1]), max_len=2)
