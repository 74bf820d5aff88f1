"""``danlu eval bleu``: JSON equal to sacrebleu.corpus_bleu; bad files -> one error line naming them, exit 2."""

from __future__ import annotations

import json

import pytest
from cli_testutil import assert_one_line, danlu, in_process

sacrebleu = pytest.importorskip("sacrebleu")

HYPS = ["The cat sat on the mat.", "A dog, barking loudly!", "", "It costs $3.50 (in 2024)."]
REFS = [["The cat is on the mat.", "The dog barks loudly!", "Nothing", "It costs $3.50 in 2024."],
        ["There is a cat on the mat.", "A dog was barking loudly!", "", "The price is $3.50 (2024)."]]


@pytest.fixture
def files(tmp_path):
    h = tmp_path / "hyp.txt"
    h.write_text("\n".join(HYPS) + "\n", encoding="utf-8")
    rs = []
    for k, ref in enumerate(REFS):
        p = tmp_path / f"ref{k}.txt"
        p.write_text("\n".join(ref) + "\n", encoding="utf-8")
        rs.append(p)
    return h, rs


def test_prints_sacrebleu_numbers(files) -> None:
    h, rs = files
    proc = danlu("eval", "bleu", str(h), *map(str, rs))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    ref = sacrebleu.corpus_bleu(HYPS, REFS)
    assert set(out) == {"score", "precisions", "bp", "sys_len", "ref_len"}
    assert abs(out["score"] - ref.score) <= 1e-9 and out["sys_len"] == ref.sys_len and out["ref_len"] == ref.ref_len


def test_options_lowercase_single_ref(files, capsys) -> None:
    h, rs = files
    proc = in_process(capsys, "eval", "bleu", str(h), str(rs[0]), "--lowercase", "--smooth-method", "floor")
    ref = sacrebleu.corpus_bleu(HYPS, REFS[:1], lowercase=True, smooth_method="floor")
    assert abs(json.loads(proc.stdout)["score"] - ref.score) <= 1e-9


def test_mismatched_line_counts_name_both_files(files, tmp_path) -> None:
    h, _ = files
    short = tmp_path / "short.txt"
    short.write_text("one line\n")
    proc = danlu("eval", "bleu", str(h), str(short))
    assert_one_line(proc, "short.txt has 1 lines", "hyp.txt has 4")
    assert proc.stdout == ""


@pytest.mark.parametrize("case, needles", [
    ("non_utf8", ("bad.txt: line 2 is not valid UTF-8",)),
    ("missing", ("missing.txt", "cannot read")),
    ("smooth", ("smooth_method must be one of",)),
    ("empty", ("no lines",)),
])
def test_bad_input_one_line(files, tmp_path, capsys, case, needles) -> None:
    h, rs = files
    if case == "non_utf8":
        bad = tmp_path / "bad.txt"
        bad.write_bytes(b"ok\n\xff\xfe\nok\nok\n")
        args = [str(h), str(bad)]
    elif case == "missing":
        args = [str(h), str(tmp_path / "missing.txt")]
    elif case == "smooth":
        args = [str(h), str(rs[0]), "--smooth-method", "add-1"]
    else:
        e = tmp_path / "empty.txt"
        e.write_text("")
        args = [str(e), str(e)]
    proc = in_process(capsys, "eval", "bleu", *args)
    assert_one_line(proc, *needles)
