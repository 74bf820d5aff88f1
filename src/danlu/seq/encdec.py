"""The encoder-decoder interface, d2l's seq2seq GRU and the Bahdanau-attention decoder.

Papers: "Sequence to Sequence Learning with Neural Networks" (Sutskever et al., arXiv:1409.3215),
"Learning Phrase Representations using RNN Encoder-Decoder" (Cho et al., arXiv:1406.1078),
"Neural Machine Translation by Jointly Learning to Align and Translate" (Bahdanau et al., arXiv:1409.0473).

Interface (what :mod:`danlu.seq.decode` needs):

* ``Encoder.forward(src (B, S), src_len (B,)) -> enc`` (any tensors);
* ``Decoder.init_state(enc, src_len) -> state``: a tuple of tensors, **batch first** (so beam
  search can reorder hypotheses with one ``index_select`` per tensor);
* ``Decoder.forward(tgt_in (B, T), state) -> (logits (B, T, V), state)`` (teacher forcing when
  ``tgt_in`` is the shifted target); one decoding step is ``forward`` on (B, 1).

Recurrences are ``torch.nn.GRU`` (never a re-written cell; the teaching cells live in
:mod:`danlu.seq.cells`). The attention is additive (Bahdanau) with valid lengths, computed by
:func:`danlu.attention.additive_scores` and :func:`danlu.attention.masked_softmax`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from danlu.attention.functional import additive_scores, masked_softmax
from danlu.errors import DanluError

State = tuple[Tensor, ...]


class Encoder(nn.Module):
    """Base encoder: ``forward(src (B, S), src_len (B,)) -> enc``."""

    def forward(self, src: Tensor, src_len: Tensor):  # pragma: no cover - interface
        raise NotImplementedError


class Decoder(nn.Module):
    """Base decoder: ``init_state(enc, src_len) -> state``; ``forward(tgt_in (B, T), state) -> (logits, state)``."""

    def init_state(self, enc, src_len: Tensor) -> State:  # pragma: no cover - interface
        raise NotImplementedError

    def forward(self, tgt_in: Tensor, state: State) -> tuple[Tensor, State]:  # pragma: no cover - interface
        raise NotImplementedError


class EncoderDecoder(nn.Module):
    """``forward(src, src_len, tgt_in) -> logits (B, T, V)``: encode, init the decoder state, teacher-force."""

    def __init__(self, encoder: Encoder, decoder: Decoder) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def start(self, src: Tensor, src_len: Tensor) -> State:
        """The decoder's initial state for a source batch."""
        return self.decoder.init_state(self.encoder(src, src_len), src_len)

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        logits, _ = self.decoder(tgt_in, self.start(src, src_len))
        return logits


def check_ids(x: Tensor, vocab_size: int, name: str) -> None:
    """x must be an integer (B, T) tensor of ids in [0, vocab_size)."""
    if not isinstance(x, Tensor) or x.dim() != 2 or x.dtype not in (torch.int64, torch.int32):
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise DanluError(f"{name} must be an integer (B, T) tensor of token ids, got {got}")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= vocab_size):
        raise DanluError(f"{name} has token ids outside the vocabulary [0, {vocab_size}): "
                         f"min {int(x.min())}, max {int(x.max())}")


class GRUEncoder(Encoder):
    """Embedding -> multi-layer GRU. enc = (outputs (B, S, H), final hidden (B, L, H))."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, num_layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = nn.GRU(embed_dim, hidden, num_layers, dropout=dropout, batch_first=True)

    def forward(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, Tensor]:
        check_ids(src, self.vocab_size, "src")
        out, h = self.rnn(self.embedding(src))                                   # (B, S, H), (L, B, H)
        return out, h.transpose(0, 1).contiguous()                              # (B, L, H) batch first


class GRUDecoder(Decoder):
    """d2l's plain seq2seq decoder: the encoder's last-layer final state is the context of every step.

    state = (hidden (B, L, H), context (B, H)); input at each step = [embedding; context].
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, num_layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = nn.GRU(embed_dim + hidden, hidden, num_layers, dropout=dropout, batch_first=True)
        self.dense = nn.Linear(hidden, vocab_size)

    def init_state(self, enc: tuple[Tensor, Tensor], src_len: Tensor) -> State:
        _, h = enc
        return h, h[:, -1]

    def forward(self, tgt_in: Tensor, state: State) -> tuple[Tensor, State]:
        check_ids(tgt_in, self.vocab_size, "tgt_in")
        h, ctx = state
        emb = self.embedding(tgt_in)                                             # (B, T, E)
        x = torch.cat([emb, ctx[:, None].expand(-1, emb.shape[1], -1)], -1)      # (B, T, E+H)
        out, h2 = self.rnn(x, h.transpose(0, 1).contiguous())                    # (B, T, H), (L, B, H)
        return self.dense(out), (h2.transpose(0, 1), ctx)


class AdditiveCrossAttention(nn.Module):
    """Bahdanau's ``w_v · tanh(W_q q + W_k k)`` over keys with valid lengths; query (B, Nq, Dq), keys (B, Nk, Dk)."""

    def __init__(self, query_dim: int, key_dim: int, hidden: int) -> None:
        super().__init__()
        self.w_q = nn.Parameter(torch.randn(hidden, query_dim) * query_dim ** -0.5)
        self.w_k = nn.Parameter(torch.randn(hidden, key_dim) * key_dim ** -0.5)
        self.w_v = nn.Parameter(torch.randn(hidden) * hidden ** -0.5)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, valid_len: Tensor) -> tuple[Tensor, Tensor]:
        """-> (context (B, Nq, Dv), weights (B, Nq, Nk)); keys at index >= valid_len get weight 0."""
        w = masked_softmax(additive_scores(q, k, self.w_q, self.w_k, self.w_v), valid_len)  # (B, Nq, Nk)
        return torch.bmm(w, v), w


class BahdanauDecoder(Decoder):
    """GRU decoder that attends to the encoder outputs at every step (query = last layer's previous hidden).

    state = (enc outputs (B, S, H), src_len (B,), hidden (B, L, H)). The weights of the last
    forward are kept in ``attention_weights`` (B, T, S) for heatmaps.
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, num_layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.attention = AdditiveCrossAttention(hidden, hidden, hidden)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = nn.GRU(embed_dim + hidden, hidden, num_layers, dropout=dropout, batch_first=True)
        self.dense = nn.Linear(hidden, vocab_size)
        self.attention_weights: Tensor | None = None

    def init_state(self, enc: tuple[Tensor, Tensor], src_len: Tensor) -> State:
        out, h = enc
        return out, src_len, h

    def forward(self, tgt_in: Tensor, state: State) -> tuple[Tensor, State]:
        check_ids(tgt_in, self.vocab_size, "tgt_in")
        enc, src_len, h = state
        emb = self.embedding(tgt_in)                                             # (B, T, E)
        h = h.transpose(0, 1).contiguous()                                      # (L, B, H)
        outs, weights = [], []
        for t in range(emb.shape[1]):
            ctx, w = self.attention(h[-1][:, None], enc, enc, src_len)          # (B, 1, H), (B, 1, S)
            out, h = self.rnn(torch.cat([emb[:, t:t + 1], ctx], -1), h)          # (B, 1, H)
            outs.append(out)
            weights.append(w)
        self.attention_weights = torch.cat(weights, 1).detach()                 # (B, T, S)
        return self.dense(torch.cat(outs, 1)), (enc, src_len, h.transpose(0, 1))


def seq2seq_gru(vocab_size: int, embed_dim: int = 32, hidden: int = 64, num_layers: int = 1, dropout: float = 0.0,
                attention: bool = False) -> EncoderDecoder:
    """A GRU encoder-decoder, plain (d2l 9.7) or with Bahdanau attention (d2l 10.4)."""
    dec = BahdanauDecoder if attention else GRUDecoder
    return EncoderDecoder(GRUEncoder(vocab_size, embed_dim, hidden, num_layers, dropout),
                          dec(vocab_size, embed_dim, hidden, num_layers, dropout))


def masked_cross_entropy(logits: Tensor, target: Tensor, valid_len: Tensor, reduction: str = "mean") -> Tensor:
    """Cross entropy over the first ``valid_len`` positions of each row (d2l's MaskedSoftmaxCELoss).

    logits (B, T, V), target (B, T), valid_len (B,). ``"mean"``: over valid tokens; ``"sum"``;
    ``"none"``: (B,) per-sequence sums. Equal to ``F.cross_entropy(..., ignore_index=pad)`` when the
    padding is exactly the positions past ``valid_len``.
    """
    if logits.dim() != 3 or target.shape != logits.shape[:2] or valid_len.shape != target.shape[:1]:
        raise DanluError(f"masked_cross_entropy: expected logits (B, T, V), target (B, T), valid_len (B,), got "
                         f"{tuple(logits.shape)}, {tuple(target.shape)}, {tuple(valid_len.shape)}")
    mask = torch.arange(target.shape[1], device=target.device)[None] < valid_len[:, None]   # (B, T)
    nll = nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none")    # (B, T)
    per_seq = (nll * mask).sum(1)                                                          # (B,)
    if reduction == "none":
        return per_seq
    if reduction == "sum":
        return per_seq.sum()
    if reduction == "mean":
        return per_seq.sum() / mask.sum().clamp(min=1)
    raise DanluError(f"masked_cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
