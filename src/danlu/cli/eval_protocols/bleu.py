"""``danlu eval bleu HYP_FILE REF_FILE [REF_FILE ...]``: corpus BLEU equal to sacrebleu's, as JSON."""

from __future__ import annotations

import argparse

NAME = "bleu"
HELP = "corpus BLEU (equal to sacrebleu) of a hypothesis file against reference files"
USAGE = """\
  danlu eval bleu HYP_FILE REF_FILE [REF_FILE ...] [--lowercase] [--tokenize 13a|none]
                  [--smooth-method exp|none|floor|add-k] [--smooth-value V] [--kind sacrebleu|d2l]
      one sentence per line (UTF-8); each REF_FILE is one reference stream with as many lines as
      HYP_FILE. Prints {"score", "precisions", "bp", "sys_len", "ref_len"}; score and precisions
      in percent, equal to sacrebleu.corpus_bleu (13a tokenizer, exp smoothing by default)."""
EXAMPLES = ["danlu eval bleu newstest.hyp newstest.ref",
            "danlu eval bleu out.txt ref1.txt ref2.txt --lowercase > bleu.json"]


def add_arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("hyp", metavar="HYP_FILE", help="system output, one sentence per line")
    c.add_argument("refs", metavar="REF_FILE", nargs="+", help="reference file(s), line-aligned with HYP_FILE")
    c.add_argument("--lowercase", action="store_true", help="case-insensitive BLEU")
    c.add_argument("--tokenize", default="13a", help="13a (default, WMT's mteval-v13a) or none")
    c.add_argument("--smooth-method", default="exp", help="exp (default), none, floor or add-k")
    c.add_argument("--smooth-value", type=float, default=None, help="for floor (0.1) and add-k (1)")
    c.add_argument("--kind", default="sacrebleu", help="sacrebleu (default) or d2l (the d2l chapter's variant)")


def read_lines(path: str) -> list[str]:
    """The lines of a UTF-8 text file without their newlines; errors name the file and the line."""
    from danlu.errors import DanluError

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DanluError(f"{path}: cannot read ({e.strerror or e})") from None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for i, raw in enumerate(lines, 1):
        try:
            out.append(raw.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as e:
            raise DanluError(f"{path}: line {i} is not valid UTF-8 (byte {e.start + 1}: {raw[e.start:e.start + 1]!r})"
                             ) from None
    return out


def run(args: argparse.Namespace) -> int:
    import json

    from danlu.errors import DanluError
    from danlu.metrics.bleu_score import bleu

    hyps = read_lines(args.hyp)
    refs = []
    for path in args.refs:
        lines = read_lines(path)
        if len(lines) != len(hyps):
            raise DanluError(f"{path} has {len(lines)} lines but {args.hyp} has {len(hyps)}; "
                             f"reference files must be line-aligned with the hypotheses")
        refs.append(lines)
    if not hyps:
        raise DanluError(f"{args.hyp}: no lines; BLEU needs at least one sentence")
    res = bleu(hyps, refs, kind=args.kind, lowercase=args.lowercase, tokenize=args.tokenize,
               smooth_method=args.smooth_method, smooth_value=args.smooth_value)
    print(json.dumps(res.as_dict(), indent=2))
    return 0
