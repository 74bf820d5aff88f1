"""Sequence-to-sequence models for ``danlu train`` (task ``seq2seq``): GRU, GRU + Bahdanau attention, Transformer.

``num_classes`` (filled in from the dataset) is the shared source/target vocabulary size.
"""

from __future__ import annotations

from torch import nn

from danlu.models import MODELS


@MODELS.register("seq2seq_gru")
def seq2seq_gru(num_classes: int, embed_dim: int = 32, hidden: int = 64, num_layers: int = 1,
                dropout: float = 0.0, attention: bool = False) -> nn.Module:
    """d2l's GRU encoder-decoder (Sutskever et al. arXiv:1409.3215); ``attention``: Bahdanau (arXiv:1409.0473)."""
    from danlu.seq.encdec import seq2seq_gru as build

    return build(num_classes, embed_dim, hidden, num_layers, dropout, attention=attention)


@MODELS.register("seq2seq_attention")
def seq2seq_attention(num_classes: int, embed_dim: int = 32, hidden: int = 64, num_layers: int = 1,
                      dropout: float = 0.0) -> nn.Module:
    """GRU encoder-decoder with a Bahdanau-attention decoder (arXiv:1409.0473)."""
    return seq2seq_gru(num_classes, embed_dim, hidden, num_layers, dropout, attention=True)


@MODELS.register("seq2seq_transformer")
def seq2seq_transformer(num_classes: int, d_model: int = 64, nhead: int = 4, num_encoder_layers: int = 2,
                        num_decoder_layers: int = 2, dim_feedforward: int = 128, dropout: float = 0.1,
                        norm_first: bool = True, kind: str = "mha") -> nn.Module:
    """Transformer encoder-decoder on danlu attention (Vaswani et al. arXiv:1706.03762); ``kind`` picks the
    self-attention (mha or any danlu attention kind)."""
    from danlu.seq.transformer import Seq2SeqTransformer

    return Seq2SeqTransformer(num_classes, d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward,
                              dropout, norm_first, kind)
