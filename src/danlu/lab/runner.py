"""Run lab cards: seed, time, catch errors, collect results, write results.json and the report.

:func:`run_lab` writes one run into one folder (``results.json``, ``index.html``, ``figures/``),
rewriting both files after every card, so an interrupted lab keeps what it measured and a long
one can be watched in the browser. The CLI gives it a fresh folder from
:class:`danlu.lab.runs.LabRoot`; the folder is the run's own, so nothing of the user's is touched.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import pathlib
import platform
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

import danlu
from danlu.errors import UsageError
from danlu.lab.core import CardContext, CardInfo
from danlu.runtime import seed_everything


@dataclass
class CardRun:
    """The outcome of one card run (what results.json stores per card)."""

    info: CardInfo
    verdict: str
    reason: str = ""
    table: list[dict[str, Any]] = field(default_factory=list)
    notes: str = ""
    figures: list[str] = field(default_factory=list)
    captions: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    effects: dict[str, dict[str, Any]] = field(default_factory=dict)
    runtime_s: float = 0.0
    device: str = "cpu"
    seed: int = 0
    mode: str = "quick"
    budget: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        i = self.info
        return {
            "id": i.id, "title": i.title, "claim": i.claim, "source": i.source, "area": i.area,
            "verdict": self.verdict, "reason": self.reason, "rule": i.criterion,
            "effects": _jsonable(self.effects), "table": _jsonable(self.table),
            "notes": self.notes, "figures": self.figures, "captions": self.captions,
            "extra": _jsonable(self.extra), "runtime_s": round(self.runtime_s, 3),
            "device": self.device, "seed": self.seed, "mode": self.mode,
            "budget": _jsonable(self.budget), "error": self.error,
        }


def _jsonable(x: Any) -> Any:
    """Convert tensors, numpy scalars/arrays and non-finite floats into strict-JSON values."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, torch.Tensor):
        return _jsonable(x.detach().cpu().tolist())
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):
        return _jsonable(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


def run_card(info: CardInfo, *, device: torch.device, seed: int, mode: str, figure_dir: pathlib.Path) -> CardRun:
    """Run one card; an exception becomes an ``error`` verdict with its traceback.

    A card that changes torch's thread count gets it restored afterwards, so the next card runs
    under the lab's setting (``--threads``), not the previous card's.
    """
    budget = info.budget(mode)
    threads = torch.get_num_threads()
    run = CardRun(info=info, verdict="error", device=str(device), seed=seed, mode=mode, budget=budget)
    ctx = CardContext(device=device, seed=seed, mode=mode, budget=budget, figure_dir=figure_dir, card_id=info.id)
    t0 = time.perf_counter()
    try:
        seed_everything(seed)
        result = info.fn(ctx)
        result.validate(info.id)
        run.verdict, run.reason, run.table = result.verdict, result.reason, result.table
        run.notes, run.extra = result.notes, result.extra
        run.effects = result.effects_json()
    except Exception as exc:  # a card that raises is reported, and the run goes on
        run.verdict = "error"
        run.reason = f"{type(exc).__name__}: {exc}"
        run.error = traceback.format_exc()
    finally:
        run.runtime_s = time.perf_counter() - t0
        run.figures, run.captions = list(ctx.figures), dict(ctx.captions)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    return run


def check_out_dir(out: pathlib.Path) -> pathlib.Path:
    """Create ``out`` and check it is writable; raise :class:`UsageError` naming it if not."""
    out = pathlib.Path(out)
    try:
        (out / "figures").mkdir(parents=True, exist_ok=True)
        probe = out / f".danlu-write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"--out {str(out)!r} is not a writable directory ({exc.strerror or exc})") from None
    return out


def run_meta(*, device: torch.device, seed: int, mode: str, started: _dt.datetime) -> dict[str, Any]:
    """The run's header for results.json: versions, machine, threads, seed, mode."""
    from danlu.lab.threads import thread_report

    return {
        "danlu_version": danlu.__version__,
        "created": started.isoformat(timespec="seconds"),
        "mode": mode,
        "seed": seed,
        "device": str(device),
        "device_name": _device_name(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        **thread_report(),
        "git_commit": git_commit(),
    }


def git_commit() -> str | None:
    """danlu's commit (``abc1234567``, ``-dirty`` if src/ has uncommitted changes) in a git checkout, else None."""
    import subprocess

    pkg = pathlib.Path(__file__).resolve().parents[1]  # .../src/danlu

    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(["git", "-C", str(pkg), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if not top or pathlib.Path(top).resolve() / "src" / "danlu" != pkg:  # an installed copy, or another repo
        return None
    head = git("rev-parse", "--short=10", "HEAD")
    if head is None:
        return None
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no", "--", "src") else "")


def run_lab(
    cards: Sequence[CardInfo],
    *,
    out: pathlib.Path,
    device: torch.device,
    seed: int = 0,
    mode: str = "quick",
    on_start: Callable[[CardInfo], None] | None = None,
    on_done: Callable[[CardRun], None] | None = None,
    meta: Mapping[str, Any] | None = None,
    related: Mapping[str, Any] | None = None,
    runs_index: str = "../index.html",
) -> list[CardRun]:
    """Run ``cards`` in order into the folder ``out``; return the runs.

    ``out/results.json`` and ``out/index.html`` are rewritten after every card (``meta.status``
    is ``running``, then ``complete``; ``interrupted`` if Ctrl-C stops the run, which is re-raised).
    ``meta`` adds fields to the results' header (run id, command); ``related`` is the newest other
    run of each card per mode (see :meth:`danlu.lab.runs.LabRoot.related`), shown in the report;
    ``runs_index`` is the report's link to the index of runs.
    """
    out = check_out_dir(out)
    runs: list[CardRun] = []
    started = _dt.datetime.now(_dt.UTC)
    t0 = time.perf_counter()
    header = {**run_meta(device=device, seed=seed, mode=mode, started=started), "run_id": out.name,
              "cards_selected": [c.id for c in cards], **(meta or {})}

    def write(status: str) -> None:
        header.update(status=status, wall_s=round(time.perf_counter() - t0, 3),
                      total_runtime_s=round(sum(r.runtime_s for r in runs), 3))
        _write_results(out, {"meta": dict(header), "cards": [r.to_json() for r in runs]}, related, runs_index)

    write("running")
    try:
        for info in cards:
            if on_start:
                on_start(info)
            run = run_card(info, device=device, seed=seed, mode=mode, figure_dir=out / "figures")
            runs.append(run)
            write("running")
            if on_done:
                on_done(run)
    except KeyboardInterrupt:
        write("interrupted")
        raise
    write("complete")
    return runs


def _write_results(out: pathlib.Path, results: dict[str, Any], related: Mapping[str, Any] | None,
                   runs_index: str) -> None:
    from danlu.files import write_text
    from danlu.lab.report import write_report

    write_text(out / "results.json", json.dumps(results, indent=2, allow_nan=False))
    write_text(out / "index.html", write_report(results, related=dict(related or {}), runs_index=runs_index))


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


