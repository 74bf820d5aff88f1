"""A recurrent language model on ``torch.nn.RNN/GRU/LSTM``: embedding -> (deep, bidirectional) RNN -> head.

Papers: LSTM (Hochreiter & Schmidhuber 1997), GRU (Cho et al., arXiv:1406.1078), deep RNNs
(Graves et al., arXiv:1303.5778), bidirectional RNNs (Schuster & Paliwal 1997); truncated BPTT
(Williams & Peng 1990); gradient clipping (Pascanu et al., arXiv:1211.5063).

    >>> import torch
    >>> from danlu.seq.rnn import RNNLM
    >>> lm = RNNLM(vocab_size=20, embed_dim=8, hidden=16, kind="lstm", num_layers=2)
    >>> logits, state = lm(torch.zeros(3, 5, dtype=torch.long), return_state=True)
    >>> logits.shape, state[0].shape
    (torch.Size([3, 5, 20]), torch.Size([2, 3, 16]))

State carry-over: pass the returned ``state`` into the next call on the following chunk of the
same streams; :func:`detach_state` cuts the graph between chunks (truncated BPTT).
:func:`tbptt_epoch` runs one epoch of that over :func:`sequential_batches` (a custom loop on
purpose: consecutive batches must continue the same rows in order, which the engine's shuffled
batches do not do). Without carry-over (random windows) train through ``danlu.train.fit`` with
the ``token_classification`` task: ``model(x)`` returns logits.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.registry import Registry

#: recurrent layer kinds (all torch's)
RNN_KINDS: Registry = Registry("rnn kind")
RNN_KINDS.add("rnn", nn.RNN)
RNN_KINDS.add("gru", nn.GRU)
RNN_KINDS.add("lstm", nn.LSTM)


class RNNLM(nn.Module):
    """Language model: ids (B, T) -> logits (B, T, V).

    Args:
        vocab_size: V.
        embed_dim: token embedding width.
        hidden: hidden width per direction.
        kind: ``rnn``, ``gru`` or ``lstm`` (the torch layer).
        num_layers: stacked layers (a deep RNN).
        bidirectional: read the sequence both ways (the head sees both directions; it sees the
            future, so it cannot be used for generation: see the seq-rnn card).
        dropout: between layers.
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, kind: str = "gru", num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        if min(vocab_size, embed_dim, hidden, num_layers) < 1:
            raise DanluError(f"RNNLM: sizes must be >= 1, got vocab_size={vocab_size}, embed_dim={embed_dim}, "
                             f"hidden={hidden}, num_layers={num_layers}")
        self.vocab_size, self.kind = vocab_size, kind
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = RNN_KINDS.get(kind)(embed_dim, hidden, num_layers, batch_first=True, dropout=dropout,
                                       bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), vocab_size)

    def forward(self, x: Tensor, state=None, return_state: bool = False):
        """x (B, T) ids -> logits (B, T, V) (and the final state: (L·D, B, H), or (h, c) for an LSTM)."""
        if x.dim() != 2 or x.dtype != torch.long:
            raise DanluError(f"RNNLM: x must be a (B, T) long tensor of ids, got {x.dtype} {tuple(x.shape)}")
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.vocab_size):
            raise DanluError(f"RNNLM: x has ids outside [0, {self.vocab_size}): min {int(x.min())}, "
                             f"max {int(x.max())}")
        out, state = self.rnn(self.embedding(x), state)                          # (B, T, H·D)
        logits = self.head(out)                                                  # (B, T, V)
        return (logits, state) if return_state else logits

    @torch.no_grad()
    def generate(self, prefix: Tensor, steps: int) -> Tensor:
        """Greedy continuation of ``prefix`` (B, P) by ``steps`` tokens -> (B, P + steps)."""
        logits, state = self(prefix, return_state=True)
        out = [prefix]
        tok = logits[:, -1].argmax(-1, keepdim=True)
        for _ in range(steps):
            out.append(tok)
            logits, state = self(tok, state, return_state=True)
            tok = logits[:, -1].argmax(-1, keepdim=True)
        return torch.cat(out, 1)


def detach_state(state):
    """The state cut from its graph (a tensor, a tuple of tensors, or None): truncated BPTT's boundary."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def sequential_batches(ids: Tensor, batch_size: int, num_steps: int) -> Iterator[tuple[Tensor, Tensor]]:
    """d2l's sequential partitioning: the stream cut into ``batch_size`` rows; batch i is the i-th window
    of ``num_steps`` tokens of every row, so row r of batch i+1 continues row r of batch i. Yields (X, Y) (B, T)."""
    if ids.dim() != 1 or batch_size < 1 or num_steps < 1:
        raise DanluError(f"sequential_batches: need a 1-D id stream and positive sizes, got {tuple(ids.shape)}, "
                         f"batch_size={batch_size}, num_steps={num_steps}")
    per_row = (len(ids) - 1) // batch_size
    if per_row < num_steps:
        raise DanluError(f"sequential_batches: {len(ids)} tokens are too few for {batch_size} rows of "
                         f"{num_steps} steps")
    xs = ids[:per_row * batch_size].view(batch_size, per_row)
    ys = ids[1:per_row * batch_size + 1].view(batch_size, per_row)
    for i in range(0, per_row - num_steps + 1, num_steps):
        yield xs[:, i:i + num_steps], ys[:, i:i + num_steps]


def tbptt_epoch(model: RNNLM, ids: Tensor, optimizer: torch.optim.Optimizer, *, batch_size: int, num_steps: int,
                clip: float | None = 1.0) -> float:
    """One epoch of truncated BPTT with the state carried across batches and gradient-norm clipping; returns
    the epoch's perplexity (exp of the mean token cross entropy)."""
    state, total, count = None, 0.0, 0
    model.train()
    for x, y in sequential_batches(ids, batch_size, num_steps):
        logits, state = model(x, detach_state(state), return_state=True)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total, count = total + float(loss.detach()) * y.numel(), count + y.numel()
    return math.exp(total / max(count, 1))


@torch.no_grad()
def perplexity(model: RNNLM, x: Tensor, y: Tensor) -> float:
    """exp(mean cross entropy) of next tokens ``y`` (B, T) given ``x`` (B, T): 1 is perfect, V is uniform guessing."""
    logits = model(x)
    return math.exp(float(nn.functional.cross_entropy(logits.flatten(0, 1).double(), y.flatten())))
