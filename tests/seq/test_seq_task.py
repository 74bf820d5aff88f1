"""The seq2seq task: trains through danlu.train.fit; its BLEU equals sacrebleu on the decoded outputs."""

from __future__ import annotations

import pytest
import torch

from danlu.data import load_dataset
from danlu.models import create_model
from danlu.seq.decode import greedy_decode, strip
from danlu.train import fit
from danlu.train.tasks import create_task

sacrebleu = pytest.importorskip("sacrebleu")


def test_fit_reports_bleu_equal_to_sacrebleu_and_exact_match() -> None:
    torch.manual_seed(0)
    s = load_dataset("seq_copy", seed=0, n=400, min_len=2, max_len=5, symbols=6)
    model = create_model("seq2seq_attention", num_classes=s.num_classes, embed_dim=16, hidden=32)
    res = fit("seq2seq", model, s.train, steps=40, seed=0, batch_size=32,
              optimizer=torch.optim.Adam(model.parameters(), lr=0.02), eval_data=s.val)
    m = res.metrics
    assert set(m) == {"val_loss", "val_token_accuracy", "val_exact_match", "val_bleu"}
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    src, tgt = s.val.tensors
    model.eval()
    out = greedy_decode(model, src, (src != 0).sum(1), max_len=tgt.shape[1] - 1)
    hyps = [" ".join(map(str, r)) for r in strip(out.tokens)]
    refs = [" ".join(map(str, r[r != 0][1:-1].tolist())) for r in tgt]  # written out: <bos> ... <eos>
    assert m["val_bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs], tokenize="none").score, abs=1e-9)
    assert m["val_exact_match"] == pytest.approx(sum(h == r for h, r in zip(hyps, refs, strict=True)) / len(refs))
    assert m["val_exact_match"] > 0.05  # it learned something in 40 steps


def test_beam_args_checked() -> None:
    from danlu.train.config import ConfigError

    assert create_task("seq2seq", {"beam_size": 3}).args.beam_size == 3
    with pytest.raises(ConfigError, match="beam_size must be >= 1"):
        create_task("seq2seq", {"beam_size": 0})
