"""``danlu tfrecord``: inspect, count, index, verify and write TFRecord files (no TensorFlow needed)."""

from __future__ import annotations

import argparse
import sys

NAME = "tfrecord"
HELP = "cat / count / index / verify / write TFRecord files (tf.train.Example as JSON lines)"
DESCRIPTION = """\
Work with TFRecord files without TensorFlow. Compression (GZIP/ZLIB) is detected from the file.

  cat FILE       one JSON object per record: an Example as {name: {"int64"|"float"|"bytes": [...]}}
                 (bytes in base64), a SequenceExample as {"context": {...}, "feature_lists":
                 {name: [feature, ...]}}; --raw prints each record as one base64 line
  count FILE...  records per file (and the total), from a header scan or --index files
  index FILE     write FILE.index (lines "offset length", the `tfrecord` package's format);
                 an existing index is replaced only with --overwrite
  verify FILE... check every CRC; exit 1 and print one line per damaged record:
                 FILE: offset N: what is wrong
  write OUT      read JSON lines in the shape `cat` prints (stdin or --input) and write them:
                 `danlu tfrecord cat a.tfrecord | danlu tfrecord write b.tfrecord` copies a file.
                 OUT appears only when every line was written (a temporary file is renamed onto
                 it); an existing OUT is refused unless --overwrite, and stays intact on error

examples:
  danlu tfrecord cat train-00000.tfrecord.gz | head -3
  danlu tfrecord count shards/*.tfrecord
  danlu tfrecord verify shards/*.tfrecord || echo damaged
  echo '{"label": {"int64": [1]}, "x": {"float": [0.5, 2]}}' | danlu tfrecord write out.tfrecord --compression gzip
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    comp_help = "auto (detect; default), none, gzip or zlib"
    c = sub.add_parser("cat", help="print records as JSON lines")
    c.add_argument("file")
    c.add_argument("--raw", action="store_true", help="print each record's bytes as a base64 line")
    c.add_argument("--kind", choices=("auto", "example", "sequence"), default="auto",
                   help="how to decode records (default: auto)")
    c.add_argument("--limit", type=int, default=None, metavar="N", help="stop after N records")
    c.add_argument("--compression", default="auto", help=comp_help)
    c.add_argument("--no-verify", dest="verify", action="store_false", help="do not check CRCs")
    n = sub.add_parser("count", help="count records")
    n.add_argument("files", nargs="+", metavar="FILE")
    n.add_argument("--index", action="store_true", help="read FILE.index instead of scanning")
    n.add_argument("--compression", default="auto", help=comp_help)
    i = sub.add_parser("index", help="write FILE.index")
    i.add_argument("file")
    i.add_argument("-o", "--output", default=None, metavar="PATH", help="index path (default FILE.index)")
    i.add_argument("--compression", default="auto", help=comp_help)
    i.add_argument("--overwrite", action="store_true", help="replace the index file if it exists (default: refuse)")
    v = sub.add_parser("verify", help="check every CRC; exit 1 if a record is damaged")
    v.add_argument("files", nargs="+", metavar="FILE")
    v.add_argument("--compression", default="auto", help=comp_help)
    w = sub.add_parser("write", help="write JSON lines (the `cat` shape) as a TFRecord file")
    w.add_argument("output")
    w.add_argument("--input", default="-", metavar="PATH", help="JSON lines file (default: stdin)")
    w.add_argument("--raw", action="store_true", help="input lines are base64 records (as `cat --raw` prints)")
    w.add_argument("--compression", default="none", help="none (default), gzip, zlib or auto (from the suffix)")
    w.add_argument("--overwrite", action="store_true", help="replace OUT if it exists (default: refuse)")


def _cat(args) -> int:
    import base64
    import json

    from danlu.data.tfrecord import read_records, record_to_dict
    from danlu.errors import UsageError

    if args.limit is not None and args.limit < 0:
        raise UsageError(f"--limit must be >= 0, got {args.limit}")
    _check_file(args.file)
    out = sys.stdout
    n = 0
    for k, rec in enumerate(read_records(args.file, compression=args.compression, verify=args.verify)):
        if args.limit is not None and k >= args.limit:
            break
        n += 1
        if args.raw:
            out.write(base64.b64encode(rec).decode("ascii") + "\n")
        else:
            out.write(json.dumps(record_to_dict(rec, kind=args.kind, bytes_as="base64"), ensure_ascii=False) + "\n")
    if n == 0 and args.limit != 0:
        _warn_empty(args.file)
    return 0


def _check_file(path: str) -> None:
    """A folder or a missing path is an error naming it (not the reader's "No such file")."""
    import os

    from danlu.errors import DanluError

    if os.path.isdir(path):
        raise DanluError(f"{path!r} is a directory; give TFRecord files (e.g. {os.path.join(path, '*.tfrecord')})")
    if not os.path.exists(path):
        raise FileNotFoundError(2, "No such file", path)


def _warn_empty(path: str) -> None:
    import warnings

    warnings.warn(f"{path}: holds no records (an empty TFRecord file)", stacklevel=2)


def _count(args) -> int:
    from danlu.data.tfrecord import count_records

    total = 0
    for f in args.files:
        _check_file(f)
        n = count_records(f, index_path=f + ".index" if args.index else None, compression=args.compression)
        total += n
        print(f"{n}\t{f}")
        if n == 0:
            _warn_empty(f)
    if len(args.files) > 1:
        print(f"{total}\ttotal")
    return 0


def _index(args) -> int:
    from danlu.data.tfrecord import create_index
    from danlu.files import atomic_path, check_output

    _check_file(args.file)
    out = args.output or args.file + ".index"
    check_output(out, overwrite=args.overwrite, inputs=[args.file], flag="index")
    with atomic_path(out, overwrite=args.overwrite) as tmp:  # no half-written index after an error
        idx = create_index(args.file, tmp, compression=args.compression)
    print(f"{len(idx)} records -> {out}")
    return 0


def _verify(args) -> int:
    from danlu.data.tfrecord import scan_records

    bad = 0
    for f in args.files:
        _check_file(f)
        n, problems = 0, 0
        for _, _, problem in scan_records(f, compression=args.compression):
            n += 1
            if problem is not None:
                problems += 1
                print(str(problem) + ("" if not problem.fatal else " (stopped: the rest cannot be read)"))
        if problems:
            bad += 1
        elif n == 0:
            _warn_empty(f)
        else:
            print(f"{f}: {n} records OK", file=sys.stderr)
    return 1 if bad else 0


def _write(args) -> int:
    import base64
    import binascii
    import json

    from danlu.data.tfrecord import TFRecordWriter, dict_to_record
    from danlu.errors import DanluError
    from danlu.files import check_output

    stdin = args.input == "-"
    check_output(args.output, overwrite=args.overwrite, inputs=[None if stdin else args.input])
    name = "<stdin>" if stdin else args.input
    src = getattr(sys.stdin, "buffer", sys.stdin) if stdin else open(args.input, "rb")  # noqa: SIM115
    try:
        with TFRecordWriter(args.output, compression=args.compression, overwrite=args.overwrite) as w:
            for lineno, raw in enumerate(src, 1):
                where = f"{name} line {lineno}"
                try:
                    line = (raw if isinstance(raw, str) else raw.decode("utf-8")).strip()
                except UnicodeDecodeError:
                    raise DanluError(f"{where}: not UTF-8 text; write reads JSON lines (or base64 with --raw), "
                                     f"as `danlu tfrecord cat` prints them, not a binary file") from None
                if not line:
                    continue
                try:
                    rec = base64.b64decode(line, validate=True) if args.raw else \
                        dict_to_record(json.loads(line), bytes_as="base64")
                except (json.JSONDecodeError, binascii.Error) as exc:
                    raise DanluError(f"{where}: not {'base64' if args.raw else 'JSON'} ({exc})") from None
                except DanluError as exc:
                    raise DanluError(f"{where}: {exc}") from None
                w.write(rec)
            n = w.count
    finally:
        if not stdin:
            src.close()
    print(f"{n} records -> {args.output}", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    actions = {"cat": _cat, "count": _count, "index": _index, "verify": _verify, "write": _write}
    return actions[args.action](args)  # `danlu tfrecord cat f | head`: danlu.cli.main handles the closed pipe
