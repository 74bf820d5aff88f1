"""Sequence-to-sequence: teacher-forced masked cross entropy; evaluation decodes and reports BLEU and exact match.

Batches are ``(src, tgt)`` in :mod:`danlu.seq.data`'s layout: src (B, S) ending in ``<eos>``,
tgt (B, T) = ``<bos> ... <eos>``, both padded with id 0 (valid lengths = non-pad counts). The
model is an :class:`~danlu.seq.encdec.EncoderDecoder`: ``model(src, src_len, tgt[:, :-1])`` gives
logits (B, T-1, V) for ``tgt[:, 1:]``; the loss is :func:`~danlu.seq.encdec.masked_cross_entropy`
(a mean over valid target tokens, Sutskever et al. arXiv:1409.3215).

Evaluation decodes every sentence (greedy, or beam search with ``task.args.beam_size`` > 1) and
reports ``exact_match`` (the whole output equals the target), ``bleu`` (corpus BLEU over the
task's tokens, sacrebleu's formula with tokenize "none"; its sufficient statistics are summed
across batches and ranks before the score is computed) and the teacher-forced ``loss`` and
``token_accuracy``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from danlu.train.schema import doc_field
from danlu.train.tasks import TASKS
from danlu.train.tasks.base import Context, Optimization, StepOutput, Task

if TYPE_CHECKING:
    from danlu.data import Splits
    from danlu.train.config import TrainConfig

PAD = 0
ORDER = 4


@dataclass
class Seq2SeqArgs:
    """Fields of the seq2seq task (``task.args``)."""

    beam_size: int = doc_field(1, "decoding at evaluation: 1 = greedy, > 1 = batched beam search")
    length_penalty: float = doc_field(0.0, "beam search ranks finished hypotheses by score / length ** this")
    max_decode_len: int = doc_field(0, "longest decoded output in tokens incl. <eos> (0: the target width)")


def split_batch(src: Tensor, tgt: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """-> src_len (B,), tgt_in (B, T-1), tgt_out (B, T-1), tgt_len (B,) (valid tokens of tgt_out)."""
    tgt_out = tgt[:, 1:]
    return (src != PAD).sum(1), tgt[:, :-1], tgt_out, (tgt_out != PAD).sum(1)


def bleu_stats(decoded: Tensor, target: Tensor) -> Tensor:
    """Per-batch BLEU sufficient statistics (2·ORDER + 2,) float64: correct, total per order, sys_len, ref_len;
    tokens are the ids before the first ``<eos>``."""
    from danlu.metrics.bleu_score import corpus_statistics
    from danlu.seq.decode import strip

    hyps = [" ".join(map(str, row)) for row in strip(decoded)]
    refs = [" ".join(map(str, row)) for row in strip(target)]
    correct, total, sys_len, ref_len = corpus_statistics(hyps, [refs], max_ngram_order=ORDER, tokenize="none")
    return torch.tensor([*correct, *total, sys_len, ref_len], dtype=torch.float64)


@TASKS.register("seq2seq")
class Seq2Seq(Task):
    """Encoder-decoder training with teacher forcing; BLEU and exact match by decoding.

    Config sections read: model, data, optim, schedule. ``task.args``: :class:`Seq2SeqArgs`.
    """

    name: ClassVar[str] = "seq2seq"
    Args: ClassVar[type] = Seq2SeqArgs
    reads: ClassVar[tuple[str, ...]] = ("model", "data", "optim", "schedule")
    default_monitor: ClassVar[str] = "exact_match"

    @classmethod
    def check_args(cls, args: Any, where: str = "task.args") -> None:
        from danlu.train.config import ConfigError

        if args.beam_size < 1:
            raise ConfigError(f"{where}.beam_size must be >= 1, got {args.beam_size}")
        if args.max_decode_len < 0:
            raise ConfigError(f"{where}.max_decode_len must be >= 0, got {args.max_decode_len}")

    @classmethod
    def monitors(cls, cfg: TrainConfig) -> list[str]:
        return ["loss", "token_accuracy", "exact_match", "bleu"]

    def build_model(self, cfg: TrainConfig, splits: Splits) -> nn.Module:
        from danlu.train.build import build_model

        return build_model(cfg, splits)

    def build_optimizers(self, cfg: TrainConfig, model: nn.Module, total_steps: int) -> dict[str, Optimization]:
        from danlu.train.build import build_optimization

        optimizer, schedule = build_optimization(cfg, model, total_steps)
        return {"main": Optimization(optimizer, schedule)}

    def stat_names(self) -> list[str]:
        return ["loss", "token_accuracy"]

    def _forward(self, model: nn.Module, src: Tensor, tgt: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        from danlu.seq.encdec import masked_cross_entropy

        src_len, tgt_in, tgt_out, tgt_len = split_batch(src, tgt)
        logits = model(src, src_len, tgt_in)                                     # (B, T-1, V)
        loss = masked_cross_entropy(logits.float(), tgt_out, tgt_len)
        valid = tgt_out != PAD
        correct = ((logits.argmax(-1) == tgt_out) & valid).sum()
        return loss, logits, correct, valid.sum()

    def training_step(self, model: nn.Module, batch: Any, ctx: Context) -> StepOutput:
        src, tgt = batch
        loss, logits, correct, count = self._forward(model, src, tgt)
        one = torch.ones((), device=loss.device)
        stats = torch.stack([loss.detach().float(), one, correct.float() / count.clamp(min=1), one])
        return StepOutput(loss, stats, logits)

    def decode(self, model: nn.Module, src: Tensor, max_len: int):
        """Greedy (beam_size 1) or beam-search outputs for a source batch (eval mode is the caller's business)."""
        from danlu.seq.decode import beam_search, greedy_decode

        src_len = (src != PAD).sum(1)
        if self.args.beam_size == 1:
            return greedy_decode(model, src, src_len, max_len=max_len)
        return beam_search(model, src, src_len, beam_size=self.args.beam_size, max_len=max_len,
                           length_penalty=self.args.length_penalty)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: Iterable[Any], ctx: Context) -> dict[str, float]:
        from danlu.seq.decode import strip

        was_training = model.training
        model.eval()
        # loss sum, tokens, correct tokens, exact matches, sentences, BLEU statistics
        sums = torch.zeros(5 + 2 * ORDER + 2, dtype=torch.float64)
        for src, tgt in loader:
            src, tgt = src.to(ctx.device), tgt.to(ctx.device)
            with ctx.autocast():
                loss, _, correct, count = self._forward(model, src, tgt)
            tgt_out = tgt[:, 1:]
            out = self.decode(model, src, self.args.max_decode_len or tgt_out.shape[1])
            exact = sum(h == r for h, r in zip(strip(out.tokens.cpu()), strip(tgt_out.cpu()), strict=True))
            sums[:5] += torch.tensor([float(loss) * float(count), float(count), float(correct), float(exact),
                                      float(len(src))], dtype=torch.float64)
            sums[5:] += bleu_stats(out.tokens.cpu(), tgt_out.cpu())
        model.train(was_training)
        sums = ctx.all_reduce_sum(sums.to(ctx.device)).cpu()
        from danlu.metrics.bleu_score import compute_bleu

        correct_n, total_n = sums[5:5 + ORDER].tolist(), sums[5 + ORDER:5 + 2 * ORDER].tolist()
        bleu = compute_bleu([int(c) for c in correct_n], [int(t) for t in total_n], int(sums[-2]), int(sums[-1]),
                            max_ngram_order=ORDER)
        return {"loss": float(sums[0] / sums[1].clamp(min=1)), "token_accuracy": float(sums[2] / sums[1].clamp(min=1)),
                "exact_match": float(sums[3] / sums[4].clamp(min=1)), "bleu": bleu.score}

    def predict(self, model: nn.Module, batch: Any) -> Tensor:
        """Decoded token ids (B, L) for ``batch`` = (src, ...), ``<pad>`` after ``<eos>``."""
        src = batch[0]
        return self.decode(model, src, self.args.max_decode_len or 2 * src.shape[1] + 2).tokens
