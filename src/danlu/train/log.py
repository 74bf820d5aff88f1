"""What a run shows and records: a rich progress bar, a JSONL log, a final summary table.

Only rank 0 writes. ``log.jsonl`` has one JSON object per line: ``{"kind": "step", ...}`` every
``log.every_steps`` optimizer steps (loss, metrics, lr, samples/s) and ``{"kind": "epoch", ...}``
after each evaluation. On resume, records past the checkpoint's step are dropped first, so the
log reads as if the run had never stopped.
"""

from __future__ import annotations

import json
import math
import pathlib
import time
from typing import Any

from danlu.files import write_text

REDRAW_S = 0.1  # the progress bar is redrawn at most this often


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


class RunLog:
    """JSONL log plus an optional rich progress bar (``enabled=False`` on ranks other than 0)."""

    def __init__(self, path: pathlib.Path | None, *, enabled: bool, progress: bool, total_steps: int) -> None:
        self.path = path
        self.enabled = enabled
        self._file = open(path, "a", buffering=1) if enabled and path is not None else None  # noqa: SIM115
        self._progress = None
        self._task = None
        self._drawn = -float("inf")  # time.monotonic() of the last redraw
        self._pending: tuple[int, int, dict[str, float]] | None = None  # a skipped redraw
        if enabled and progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(bar_width=16),
                                      MofNCompleteColumn(),
                                      TextColumn("{task.fields[stats]}"), transient=False,
                                      auto_refresh=False)  # redrawn at log steps: no refresh thread
            self._task = self._progress.add_task("train", total=total_steps, epoch=1, stats="")
            self._progress.start()

    @staticmethod
    def truncate_after(path: pathlib.Path, step: int) -> None:
        """Drop records with ``step`` greater than ``step`` (atomically), used when resuming."""
        if not path.is_file():
            return
        keep = []
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash
            if rec.get("step", 0) <= step:
                keep.append(line)
        write_text(path, "".join(k + "\n" for k in keep))

    def write(self, record: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps({k: _clean(v) for k, v in record.items()}) + "\n")

    def progress(self, step: int, epoch: int, stats: dict[str, float]) -> None:
        """Redraw the bar (at most every ``REDRAW_S`` seconds: drawing costs far more than a small step)."""
        if self._progress is None:
            return
        now = time.monotonic()
        if now - self._drawn < REDRAW_S:
            self._pending = (step, epoch, stats)  # drawn by the next redraw or by close()
            return
        self._drawn, self._pending = now, None
        self._draw(step, epoch, stats)

    def _draw(self, step: int, epoch: int, stats: dict[str, float]) -> None:
        text = " ".join(f"{v:,.0f}/s" if k == "samples/s" else f"{k} {v:.1e}" if k.startswith("lr") else f"{k} {v:.4f}"
                        for k, v in stats.items())
        self._progress.update(self._task, completed=step, epoch=epoch + 1, stats=text)  # 1-based, as the epoch lines
        self._progress.refresh()

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self._progress is not None:
            self._progress.console.print(text, highlight=False, soft_wrap=True)
        else:
            print(text, flush=True)

    def close(self, step: int | None = None) -> None:
        """Stop the bar (drawn at ``step`` if given) and close the log file."""
        if self._progress is not None:
            if self._pending is not None:
                self._draw(*self._pending)
            if step is not None:
                self._progress.update(self._task, completed=step)
                self._progress.refresh()
            self._progress.stop()
            self._progress = None
        if self._file is not None:
            self._file.close()
            self._file = None


def summary_table(metrics: dict[str, Any], title: str = "danlu train: final metrics") -> Any:
    """A rich Table of the final metrics."""
    from rich.table import Table

    t = Table(title=title)
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in metrics.items():
        t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    return t
