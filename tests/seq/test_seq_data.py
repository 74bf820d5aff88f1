"""Vocabulary, padding, the TSV loader (bad lines named), synthetic tasks and date normalisation (checked by datetime)."""

from __future__ import annotations

import datetime

import pytest
import torch

from danlu.data import load_dataset
from danlu.errors import DanluError
from danlu.seq.data import encode_pairs, load_tsv, symbol_pairs
from danlu.seq.dates import DATE_FORMATS, MONTHS, date_pairs, render_date
from danlu.seq.vocab import BOS_ID, EOS_ID, PAD_ID, RESERVED, UNK_ID, Vocab, pad_batch


def test_vocab_reserved_min_freq_and_unknowns() -> None:
    v = Vocab([["b", "a", "b"], ["c", "b", "a"]], min_freq=2)
    assert v.tokens == [*RESERVED, "b", "a"] and len(v) == 6
    assert v.encode(["a", "zz"]) == [5, UNK_ID]
    with pytest.raises(DanluError, match="token 'zz' is not in the vocabulary"):
        v.encode(["zz"], strict=True)
    assert v.decode([BOS_ID, 4, 5, EOS_ID, 4]) == ["b", "a"]
    with pytest.raises(DanluError, match="outside the vocabulary"):
        v.decode([99])
    assert Vocab.from_tokens(v.tokens).encode(["a"]) == [5]
    with pytest.raises(DanluError, match="min_freq"):
        Vocab([], min_freq=0)


def test_pad_batch_pads_truncates_keeps_eos() -> None:
    ids, lens = pad_batch([[5, 6, 7], [8]], bos=True, eos=True)
    assert ids.tolist() == [[BOS_ID, 5, 6, 7, EOS_ID], [BOS_ID, 8, EOS_ID, PAD_ID, PAD_ID]] and lens.tolist() == [5, 3]
    ids, lens = pad_batch([[5, 6, 7, 8]], max_len=3, eos=True)
    assert ids.tolist() == [[5, 6, EOS_ID]] and lens.tolist() == [3]


def test_tsv_loader_and_bad_lines(tmp_path) -> None:
    p = tmp_path / "c.tsv"
    p.write_text("go .\tva !\n\ni lost .\tj'ai perdu .\n", encoding="utf-8")
    d = load_tsv(str(p))
    assert d.src.shape[0] == 2 and d.vocab.decode(d.src[1]) == ["i", "lost", "."]
    assert d.tgt[0, 0] == BOS_ID and d.tgt_len.tolist() == [4, 5] and d.src_len.tolist() == [3, 4]
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"a\tb\nc\t\xff\n")
    with pytest.raises(DanluError, match="bad.tsv: line 2 is not valid UTF-8"):
        load_tsv(str(bad))
    bad.write_text("a\tb\nno tab here\n")
    with pytest.raises(DanluError, match="bad.tsv: line 2 has no tab"):
        load_tsv(str(bad))
    with pytest.raises(DanluError, match="cannot read"):
        load_tsv(str(tmp_path / "missing.tsv"))


def test_synthetic_tasks_are_correct() -> None:
    for s, t in symbol_pairs("reverse", 50, seed=1):
        assert t.split() == s.split()[::-1]
    for s, t in symbol_pairs("addition", 50, seed=1):
        a, b = s.split("+")
        assert int(a) + int(b) == int(t)
    splits = load_dataset("seq_copy", seed=0, n=100)
    x, y = splits.train.tensors
    v = Vocab.from_tokens(splits.info["vocab"])
    assert v.decode(x[0]) == v.decode(y[0]) and len(splits.train) == 70


def test_dates_targets_are_the_iso_of_the_rendered_date() -> None:
    pairs = date_pairs(300, seed=0, filler=2)
    for src, iso in pairs:
        d = datetime.date.fromisoformat(iso)
        assert any(src.endswith(render_date(d, f)) for f in DATE_FORMATS), (src, iso)
    assert render_date(datetime.date(2021, 3, 12), "ordinal") == "the 12th of march 2021"
    assert render_date(datetime.date(2021, 3, 1), "us_slash") == "3/1/2021"
    assert len({len(s) for s, _ in pairs}) > 10 and MONTHS[2] == "march"
    longer = sum(len(s) for s, _ in date_pairs(200, seed=0, filler=4)) > sum(len(s) for s, _ in date_pairs(200, seed=0))
    assert longer
    s = load_dataset("dates", seed=0, n=200)
    assert s.info["tokenize"] == "char" and s.train.tensors[1].shape[1] == 12  # <bos> + 10 chars + <eos>
    with pytest.raises(DanluError, match="unknown format"):
        date_pairs(3, formats=["roman"])


def test_encode_pairs_empty_is_an_error() -> None:
    with pytest.raises(DanluError, match="no sentence pairs"):
        encode_pairs([])
    assert torch.equal(encode_pairs([("a b", "b")]).src, torch.tensor([[5, 4, EOS_ID]]))  # "b" is more frequent
