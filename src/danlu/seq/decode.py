"""Greedy decoding and batched beam search for any :class:`~danlu.seq.encdec.EncoderDecoder`-like model.

The model needs ``start(src, src_len) -> state`` (a tuple of batch-first tensors) and
``decoder(tokens (B, 1), state) -> (logits (B, 1, V), state)``.

Beam search (Graves 2012, arXiv:1211.3711; as in Sutskever et al. arXiv:1409.3215) keeps ``beam_size``
hypotheses per sentence, all sentences and beams in one (B·K) batch: each step scores the K·V
continuations of every sentence at once, ``topk`` picks K, and the decoder state follows its
hypotheses through one ``index_select`` per tensor (no Python loop per hypothesis). A hypothesis
that emitted ``<eos>`` stays in its slot with a frozen score (its only continuation is ``<eos>`` at
log-probability 0), so finished and unfinished hypotheses compete on their summed log-probability.
At the end the best of the K is chosen by ``score / length ** length_penalty`` (length counts the
tokens up to and including ``<eos>``; ``length_penalty=0``: the raw sum).

Properties (tested): ``beam_size=1`` is greedy decoding; with ``beam_size >= V ** max_len`` nothing
is ever pruned, so the result is the exhaustive-search optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from danlu.errors import DanluError
from danlu.seq.vocab import BOS_ID, EOS_ID, PAD_ID


@dataclass
class Decoded:
    """Decoding output: tokens (B, T) (``<pad>`` after ``<eos>``), lengths (B,) incl. ``<eos>``, scores (B,)."""

    tokens: Tensor
    lengths: Tensor
    scores: Tensor


def strip(tokens: Tensor, eos: int = EOS_ID, pad: int = PAD_ID) -> list[list[int]]:
    """Decoded (or target) rows (B, T) -> token lists up to (not including) the first ``<eos>``, pads dropped."""
    out = []
    for row in tokens.tolist():
        row = row[:row.index(eos)] if eos in row else row
        out.append([t for t in row if t != pad])
    return out


def _step(model, tok: Tensor, state):
    logits, state = model.decoder(tok[:, None], state)
    return torch.log_softmax(logits[:, -1].double(), -1), state                  # (N, V)


def _check(src: Tensor, src_len: Tensor, max_len: int) -> None:
    if src.dim() != 2 or src_len.shape != src.shape[:1]:
        raise DanluError(f"decode: expected src (B, S) and src_len (B,), got {tuple(src.shape)}, "
                         f"{tuple(src_len.shape)}")
    if max_len < 1:
        raise DanluError(f"decode: max_len must be >= 1, got {max_len}")


@torch.no_grad()
def greedy_decode(model, src: Tensor, src_len: Tensor, *, max_len: int, bos: int = BOS_ID, eos: int = EOS_ID,
                  pad: int = PAD_ID) -> Decoded:
    """The most probable next token at every step, until ``<eos>`` or ``max_len`` tokens."""
    _check(src, src_len, max_len)
    b = src.shape[0]
    state = model.start(src, src_len)
    tok = torch.full((b,), bos, dtype=torch.long, device=src.device)
    out = torch.full((b, max_len), pad, dtype=torch.long, device=src.device)
    score = torch.zeros(b, dtype=torch.float64, device=src.device)
    done = torch.zeros(b, dtype=torch.bool, device=src.device)
    lengths = torch.full((b,), max_len, dtype=torch.long, device=src.device)
    for t in range(max_len):
        logp, state = _step(model, tok, state)
        nxt = logp.argmax(-1)                                                    # (B,)
        score += torch.where(done, 0.0, logp.gather(1, nxt[:, None])[:, 0])
        out[:, t] = torch.where(done, pad, nxt)
        newly = ~done & (nxt == eos)
        lengths[newly] = t + 1
        done |= newly
        if bool(done.all()):
            break
        tok = nxt
    return Decoded(out, lengths, score)


@torch.no_grad()
def beam_search(model, src: Tensor, src_len: Tensor, *, beam_size: int, max_len: int, length_penalty: float = 0.0,
                bos: int = BOS_ID, eos: int = EOS_ID, pad: int = PAD_ID) -> Decoded:
    """Batched beam search (see the module docstring); returns the best hypothesis per sentence."""
    if not isinstance(beam_size, int) or beam_size < 1:
        raise DanluError(f"beam_search: beam_size must be an integer >= 1, got {beam_size!r}")
    _check(src, src_len, max_len)
    b, k, dev = src.shape[0], beam_size, src.device
    state = tuple(t.repeat_interleave(k, 0) for t in model.start(src, src_len))  # (B*K, ...)
    tok = torch.full((b * k,), bos, dtype=torch.long, device=dev)
    scores = torch.full((b, k), float("-inf"), dtype=torch.float64, device=dev)
    scores[:, 0] = 0.0                                                           # one live beam at the start
    seqs = torch.empty(b, k, 0, dtype=torch.long, device=dev)
    finished = torch.zeros(b, k, dtype=torch.bool, device=dev)
    lengths = torch.zeros(b, k, dtype=torch.long, device=dev)
    rows = torch.arange(b, device=dev)[:, None] * k                              # (B, 1)
    for _ in range(max_len):
        logp, state = _step(model, tok, state)
        v = logp.shape[-1]
        logp = logp.view(b, k, v)
        frozen = torch.full((v,), float("-inf"), dtype=logp.dtype, device=dev)
        frozen[eos] = 0.0
        logp = torch.where(finished[..., None], frozen, logp)                   # finished: only <eos>, free
        top, idx = (scores[..., None] + logp).view(b, k * v).topk(k, -1)         # (B, K)
        beam, token = idx // v, idx % v
        state = tuple(t.index_select(0, (rows + beam).view(-1)) for t in state)
        seqs = torch.cat([seqs.gather(1, beam[..., None].expand(-1, -1, seqs.shape[-1])), token[..., None]], -1)
        was = finished.gather(1, beam)
        lengths = lengths.gather(1, beam) + (~was).long()
        finished = was | (token == eos)
        scores, tok = top, token.view(-1)
        if bool(finished.all()):
            break
    norm = scores / lengths.clamp(min=1).to(scores.dtype) ** length_penalty
    best = norm.argmax(1)                                                        # (B,)
    pick = lambda t: t.gather(1, best[:, None])[:, 0]  # noqa: E731
    tokens = seqs.gather(1, best[:, None, None].expand(-1, 1, seqs.shape[-1]))[:, 0]   # (B, T)
    length = pick(lengths)
    pos = torch.arange(tokens.shape[1], device=dev)[None]
    tokens = torch.where(pos < length[:, None], tokens, pad)
    out = torch.full((b, max_len), pad, dtype=torch.long, device=dev)
    out[:, :tokens.shape[1]] = tokens
    return Decoded(out, length, pick(norm))
