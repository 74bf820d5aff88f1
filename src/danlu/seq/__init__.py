"""Sequence models: RNN language models, encoder-decoders with attention, beam search, the Transformer.

    >>> import torch
    >>> from danlu.seq import seq2seq_gru, beam_search
    >>> model = seq2seq_gru(vocab_size=12, attention=True).eval()
    >>> out = beam_search(model, torch.randint(4, 12, (2, 5)), torch.tensor([5, 3]), beam_size=3, max_len=6)
    >>> out.tokens.shape
    torch.Size([2, 6])

Modules (imported on first use, so ``import danlu.seq`` is light):

=================  ==================================================================================
``vocab``          tokenizer, :class:`Vocab` with ``<pad> <bos> <eos> <unk>``, :func:`pad_batch`
``data``           TSV parallel corpus loader, synthetic copy / reversal / addition, dataset registry
``dates``          date normalisation pairs (human formats -> ISO 8601)
``rnn``            :class:`RNNLM` on torch.nn.RNN/GRU/LSTM, state carry-over, truncated BPTT, perplexity
``cells``          from-scratch GRU/LSTM cells: a teaching reference, equal to torch's
``encdec``         encoder-decoder interface, GRU seq2seq, Bahdanau decoder, masked cross entropy
``decode``         greedy decoding and batched beam search
``transformer``    Transformer from danlu.attention (torch.nn.Transformer's names and numbers)
=================  ==================================================================================
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Vocab": "vocab", "tokenize": "vocab", "pad_batch": "vocab",
    "load_tsv": "data", "encode_pairs": "data", "symbol_pairs": "data", "ParallelData": "data",
    "date_pairs": "dates", "render_date": "dates",
    "RNNLM": "rnn", "detach_state": "rnn", "perplexity": "rnn", "sequential_batches": "rnn", "tbptt_epoch": "rnn",
    "ScratchGRUCell": "cells", "ScratchLSTMCell": "cells",
    "Encoder": "encdec", "Decoder": "encdec", "EncoderDecoder": "encdec", "seq2seq_gru": "encdec",
    "BahdanauDecoder": "encdec", "masked_cross_entropy": "encdec",
    "greedy_decode": "decode", "beam_search": "decode",
    "Transformer": "transformer", "Seq2SeqTransformer": "transformer",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"danlu.seq.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'danlu.seq' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS)
