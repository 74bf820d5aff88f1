"""Transformer encoder-decoder built from danlu.attention, with ``torch.nn.Transformer``'s names and numbers.

Paper: "Attention Is All You Need" (Vaswani et al., arXiv:1706.03762); pre-norm: "On Layer
Normalization in the Transformer Architecture" (Xiong et al., arXiv:2002.04745).

:class:`Transformer` has torch.nn.Transformer's parameter names (``encoder.layers.0.self_attn.in_proj_weight``,
``decoder.layers.0.multihead_attn...``, ``linear1``, ``norm1`` ..., ``encoder.norm``, ``decoder.norm``),
so ``mine.load_state_dict(torch_transformer.state_dict())`` works and, for both ``norm_first``
settings, with masks, the outputs and gradients match (tested in float64 to 1e-6). Its attention is
:class:`danlu.attention.MultiHeadAttention` (``kind="mha"``, the default); ``kind=`` any other
registered self-attention kind (``linear``, ``performer``, ``gau``, ...; :func:`danlu.attention.list_attentions`)
replaces the encoder and decoder *self*-attention (the decoder's is built causal); cross-attention
stays multi-head softmax. With another kind, masks other than key padding cannot be expressed:
``src_mask``/``tgt_mask`` must be None (the decoder is causal by construction).

:class:`Seq2SeqTransformer` wraps it for token sequences (embeddings scaled by sqrt(d), sinusoidal
positions, a linear generator) behind the :mod:`danlu.seq.encdec` interface, so greedy decoding and
beam search work on it. danlu.attention provides everything needed; nothing is re-implemented here.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from danlu.attention import MultiHeadAttention, SinusoidalPositionalEncoding, create_attention
from danlu.errors import DanluError
from danlu.seq.encdec import Decoder, Encoder, EncoderDecoder, State, check_ids

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


def make_self_attention(kind: str, d_model: int, nhead: int, dropout: float, causal: bool) -> nn.Module:
    """torch-compatible :class:`MultiHeadAttention` for ``kind="mha"``, else the registered kind (causal as asked)."""
    if kind == "mha":
        return MultiHeadAttention(d_model, nhead, dropout=dropout, batch_first=True)
    return create_attention(kind, dim=d_model, heads=nhead, causal=causal, dropout=dropout)


def self_attend(attn: nn.Module, kind: str, x: Tensor, attn_mask: Tensor | None,
                key_padding_mask: Tensor | None) -> Tensor:
    """x (B, N, E) -> (B, N, E) with torch-convention masks (True = ignore)."""
    if kind == "mha":
        return attn(x, x, x, key_padding_mask=key_padding_mask, attn_mask=attn_mask)[0]
    if attn_mask is not None:
        raise DanluError(f"Transformer(kind={kind!r}): attention masks other than key padding are not "
                         f"supported by this kind; pass src_mask/tgt_mask=None (the decoder is causal)")
    return attn(x, None if key_padding_mask is None else ~key_padding_mask)


class TransformerEncoderLayer(nn.Module):
    """Self-attention + feed-forward with residuals; post-norm (the paper) or pre-norm (``norm_first``)."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str = "relu", layer_norm_eps: float = 1e-5, norm_first: bool = False,
                 kind: str = "mha") -> None:
        super().__init__()
        self.self_attn, self.kind = make_self_attention(kind, d_model, nhead, dropout, causal=False), kind
        self.linear1, self.linear2 = nn.Linear(d_model, dim_feedforward), nn.Linear(dim_feedforward, d_model)
        self.norm1, self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps), nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout, self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)
        self.activation, self.norm_first = ACTIVATIONS[activation], norm_first

    def _ff(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, x: Tensor, src_mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None) -> Tensor:
        sa = lambda y: self.dropout1(self_attend(self.self_attn, self.kind, y, src_mask, src_key_padding_mask))  # noqa: E731
        if self.norm_first:
            x = x + sa(self.norm1(x))
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + sa(x))
        return self.norm2(x + self._ff(x))


class TransformerDecoderLayer(nn.Module):
    """Masked self-attention, cross-attention to the memory, feed-forward; post- or pre-norm."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str = "relu", layer_norm_eps: float = 1e-5, norm_first: bool = False,
                 kind: str = "mha") -> None:
        super().__init__()
        self.self_attn, self.kind = make_self_attention(kind, d_model, nhead, dropout, causal=True), kind
        self.multihead_attn = MultiHeadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.linear1, self.linear2 = nn.Linear(d_model, dim_feedforward), nn.Linear(dim_feedforward, d_model)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model, eps=layer_norm_eps) for _ in range(3))
        self.dropout = nn.Dropout(dropout)
        self.dropout1, self.dropout2, self.dropout3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)
        self.activation, self.norm_first = ACTIVATIONS[activation], norm_first

    def forward(self, x: Tensor, memory: Tensor, tgt_mask: Tensor | None = None, memory_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None, memory_key_padding_mask: Tensor | None = None) -> Tensor:
        sa = lambda y: self.dropout1(self_attend(self.self_attn, self.kind, y, tgt_mask, tgt_key_padding_mask))  # noqa: E731
        ca = lambda y: self.dropout2(self.multihead_attn(  # noqa: E731
            y, memory, memory, key_padding_mask=memory_key_padding_mask, attn_mask=memory_mask)[0])
        ff = lambda y: self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(y)))))  # noqa: E731
        if self.norm_first:
            x = x + sa(self.norm1(x))
            x = x + ca(self.norm2(x))
            return x + ff(self.norm3(x))
        x = self.norm1(x + sa(x))
        x = self.norm2(x + ca(x))
        return self.norm3(x + ff(x))


class TransformerEncoder(nn.Module):
    """``layers`` then a final LayerNorm ``norm`` (as torch.nn.Transformer builds it)."""

    def __init__(self, layer: TransformerEncoderLayer, num_layers: int, norm: nn.Module | None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))
        self.norm = norm

    def forward(self, src: Tensor, mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None) -> Tensor:
        for layer in self.layers:
            src = layer(src, mask, src_key_padding_mask)
        return self.norm(src) if self.norm is not None else src


class TransformerDecoder(nn.Module):
    """``layers`` then a final LayerNorm ``norm``."""

    def __init__(self, layer: TransformerDecoderLayer, num_layers: int, norm: nn.Module | None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None, memory_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None, memory_key_padding_mask: Tensor | None = None) -> Tensor:
        for layer in self.layers:
            tgt = layer(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask)
        return self.norm(tgt) if self.norm is not None else tgt


class Transformer(nn.Module):
    """torch.nn.Transformer (``batch_first=True``) on danlu attention: src (B, S, E), tgt (B, T, E) -> (B, T, E).

    Masks follow torch: bool True = ignore, or float added to the scores; ``*_key_padding_mask`` (B, N).
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 dim_feedforward: int = 2048, dropout: float = 0.1, activation: str = "relu",
                 layer_norm_eps: float = 1e-5, norm_first: bool = False, kind: str = "mha") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise DanluError(f"Transformer: activation must be one of {list(ACTIVATIONS)}, got {activation!r}")
        if d_model % nhead:
            raise DanluError(f"Transformer: d_model ({d_model}) must be divisible by nhead ({nhead})")
        kw = {"dim_feedforward": dim_feedforward, "dropout": dropout, "activation": activation,
              "layer_norm_eps": layer_norm_eps, "norm_first": norm_first, "kind": kind}
        self.encoder = TransformerEncoder(TransformerEncoderLayer(d_model, nhead, **kw), num_encoder_layers,
                                          nn.LayerNorm(d_model, eps=layer_norm_eps))
        self.decoder = TransformerDecoder(TransformerDecoderLayer(d_model, nhead, **kw), num_decoder_layers,
                                          nn.LayerNorm(d_model, eps=layer_norm_eps))
        self.d_model, self.nhead, self.kind = d_model, nhead, kind

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None, memory_key_padding_mask: Tensor | None = None) -> Tensor:
        if src.dim() != 3 or tgt.dim() != 3 or src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise DanluError(f"Transformer: expected src (B, S, {self.d_model}) and tgt (B, T, {self.d_model}), got "
                             f"{tuple(src.shape)} and {tuple(tgt.shape)}")
        memory = self.encoder(src, src_mask, src_key_padding_mask)
        return self.decoder(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask)


def causal_mask(n: int, device=None) -> Tensor:
    """(n, n) bool, True above the diagonal (= future positions, ignored)."""
    return torch.ones(n, n, dtype=torch.bool, device=device).triu(1)


class _Embed(nn.Module):
    def __init__(self, vocab_size: int, d_model: int, dropout: float) -> None:
        super().__init__()
        self.vocab_size, self.scale = vocab_size, math.sqrt(d_model)
        self.embedding = nn.Embedding(vocab_size, d_model)
        # N(0, 1/d) so that the sqrt(d)-scaled embeddings have unit scale, like the positional table
        # (torch's N(0, 1) default would drown the positions by a factor sqrt(d))
        nn.init.normal_(self.embedding.weight, std=d_model ** -0.5)
        self.pos = SinusoidalPositionalEncoding(d_model, dropout)

    def forward(self, ids: Tensor, name: str) -> Tensor:
        check_ids(ids, self.vocab_size, name)
        return self.pos(self.embedding(ids) * self.scale)                        # (B, N, E)


class TransformerSeqEncoder(Encoder):
    """ids -> memory; enc = (memory (B, S, E), padding (B, S) bool True = pad)."""

    def __init__(self, vocab_size: int, d_model: int, dropout: float, encoder: TransformerEncoder) -> None:
        super().__init__()
        self.embed, self.encoder = _Embed(vocab_size, d_model, dropout), encoder

    def forward(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, Tensor]:
        pad = torch.arange(src.shape[1], device=src.device)[None] >= src_len[:, None]  # (B, S)
        return self.encoder(self.embed(src, "src"), None, pad), pad


class TransformerSeqDecoder(Decoder):
    """state = (memory (B, S, E), padding (B, S), prefix (B, t) tokens decoded so far); each call re-runs the
    decoder over prefix + new tokens (no key/value cache: simple, exact, O(T²) for short outputs)."""

    def __init__(self, vocab_size: int, d_model: int, dropout: float, decoder: TransformerDecoder,
                 causal_by_kind: bool) -> None:
        super().__init__()
        self.embed, self.decoder = _Embed(vocab_size, d_model, dropout), decoder
        self.generator = nn.Linear(d_model, vocab_size)
        self.causal_by_kind = causal_by_kind

    def init_state(self, enc: tuple[Tensor, Tensor], src_len: Tensor) -> State:
        memory, pad = enc
        return memory, pad, torch.empty(memory.shape[0], 0, dtype=torch.long, device=memory.device)

    def forward(self, tgt_in: Tensor, state: State) -> tuple[Tensor, State]:
        memory, pad, prefix = state
        full = torch.cat([prefix, tgt_in], 1)                                    # (B, t + T)
        mask = None if self.causal_by_kind else causal_mask(full.shape[1], full.device)
        out = self.decoder(self.embed(full, "tgt_in"), memory, mask, None, None, pad)
        return self.generator(out[:, prefix.shape[1]:]), (memory, pad, full)


class Seq2SeqTransformer(EncoderDecoder):
    """Token-level Transformer encoder-decoder (same interface as :func:`danlu.seq.encdec.seq2seq_gru`)."""

    def __init__(self, vocab_size: int, d_model: int = 64, nhead: int = 4, num_encoder_layers: int = 2,
                 num_decoder_layers: int = 2, dim_feedforward: int = 128, dropout: float = 0.1,
                 norm_first: bool = True, kind: str = "mha") -> None:
        core = Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout,
                           norm_first=norm_first, kind=kind)
        super().__init__(TransformerSeqEncoder(vocab_size, d_model, dropout, core.encoder),
                         TransformerSeqDecoder(vocab_size, d_model, dropout, core.decoder, kind != "mha"))
