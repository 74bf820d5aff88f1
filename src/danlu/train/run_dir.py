"""The run folder of ``danlu train --out DIR``: what may be written there, and what ``--resume`` means.

``danlu train`` writes ``config.yaml``, ``log.jsonl``, ``metrics.json`` and ``checkpoints/`` in
its run folder. Before it starts, :func:`plan_run` decides from what the folder holds (it never
guesses in a way that loses a file):

=====================  ===================  ============================  ==========================
folder holds           no ``--resume``      ``--resume`` (newest)          ``--resume auto``
=====================  ===================  ============================  ==========================
nothing / missing      start                error: nothing to resume      start
danlu checkpoints      error: use --resume  resume from the newest        resume from the newest
a danlu run that       error: use           error: nothing to resume      start over (its old
stopped before its     --resume auto                                      log is cleared)
first checkpoint
other files            error: not a run     error: not a run              error: not a run
=====================  ===================  ============================  ==========================

``--resume CKPT`` continues from that checkpoint file into a new, empty or danlu run folder.
"Other files" means anything that is not danlu's: a user's own ``metrics.json`` or
``config.yaml`` there would be overwritten and their ``log.jsonl`` appended to, so such a folder
is refused, naming what it holds.

Only rank 0 decides and refuses: other DDP ranks get the same answer from the same folder state,
and a process started by ``danlu train --nproc N`` skips the check the parent already made.
"""

from __future__ import annotations

import json
import os
import pathlib

from danlu.errors import DanluError

#: What danlu train writes in a run folder.
RUN_FILES = ("config.yaml", "log.jsonl", "metrics.json", "checkpoints")
#: ``--resume`` given without a value: continue from the newest checkpoint, which must exist.
NEWEST = "newest"
#: ``--resume auto``: continue if there is a checkpoint, else start.
AUTO = "auto"
#: Set in the environment of the processes ``danlu train --nproc N`` launches (checked already).
CHECKED_ENV = "DANLU_RUN_DIR_CHECKED"

_HINT_AUTO = "--resume auto resumes when there is a checkpoint and starts otherwise"


def _checkpoints(folder: pathlib.Path) -> list[pathlib.Path]:
    from danlu.train.checkpoint import CheckpointManager

    return CheckpointManager(folder / "checkpoints").step_checkpoints()


def _is_danlu_log(path: pathlib.Path) -> bool:
    """True if ``path`` reads as a danlu train log (JSON lines with a ``kind``)."""
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline()
    except (OSError, UnicodeDecodeError):
        return False
    if not first.strip():
        return True  # danlu opens the log before writing its first record
    try:
        rec = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(rec, dict) and "kind" in rec


def describe(folder: str | os.PathLike) -> tuple[str, list[pathlib.Path]]:
    """``(state, checkpoints)``: state is ``"missing"``, ``"empty"``, ``"run"`` (danlu checkpoints),
    ``"started"`` (a danlu run with no checkpoint yet) or ``"foreign"`` (other files)."""
    p = pathlib.Path(folder)
    if not p.exists():
        return "missing", []
    if not p.is_dir():
        raise DanluError(f"--out {str(p)!r} is a file, not a folder; give the run folder")
    entries = list(p.iterdir())
    if not entries:
        return "empty", []
    found = _checkpoints(p)
    if found:
        return "run", found
    names = {e.name for e in entries}
    if (p / "checkpoints").is_dir() or ("log.jsonl" in names and _is_danlu_log(p / "log.jsonl")
                                        and names <= {*RUN_FILES, "log.jsonl.tmp"}):
        return "started", []
    return "foreign", []


def _foreign(folder: pathlib.Path) -> DanluError:
    names = sorted(e.name for e in folder.iterdir())
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    clash = [n for n in names if n in RUN_FILES]
    lost = f"; its {' and '.join(clash)} would be overwritten" if clash else ""
    return DanluError(f"--out {str(folder)!r} is not empty and is not a danlu run folder (it holds {shown}{lost}): "
                      f"choose a new or empty folder")


def plan_run(out_dir: str | os.PathLike, resume: str | None, *, is_main: bool = True) -> bool | str | None:
    """Check the run folder for ``--resume`` (None, :data:`NEWEST`, :data:`AUTO` or a checkpoint path) and
    return what ``Trainer.fit(resume=...)`` takes: None (start), True (newest checkpoint) or the path.

    On rank 0 (``is_main``) a folder that may not be used raises a one-line :class:`DanluError`,
    and a danlu run that stopped before its first checkpoint, started over with ``--resume auto``,
    gets its old log cleared. Other ranks only compute the answer.
    """
    folder = pathlib.Path(out_dir)
    state, _ = describe(folder)
    if resume not in (None, NEWEST, AUTO):  # an explicit checkpoint file
        if is_main and state == "foreign":
            raise _foreign(folder)
        return str(resume)
    if state == "run":
        if resume is None:
            if is_main:
                raise DanluError(f"run folder {str(folder)!r} already holds checkpoints; pass --resume to continue "
                                 f"that run, or choose another --out")
            return None
        return True
    if not is_main:
        return None
    if state == "foreign":
        raise _foreign(folder)
    if resume == NEWEST:
        what = "does not exist" if state == "missing" else "holds no checkpoint"
        raise DanluError(f"--resume: run folder {str(folder)!r} {what}, so there is nothing to resume; drop --resume "
                         f"to start a new run ({_HINT_AUTO})")
    if state == "started":
        if resume is None:
            raise DanluError(f"run folder {str(folder)!r} holds a danlu run that stopped before its first checkpoint; "
                             f"pass --resume auto to start it over there, or choose another --out")
        from danlu.train.log import RunLog

        RunLog.truncate_after(folder / "log.jsonl", -1)  # danlu's own log of the attempt that never checkpointed
    return None


def checked_by_parent() -> bool:
    """True in a process launched by ``danlu train --nproc N`` (the parent checked the folder)."""
    return os.environ.get(CHECKED_ENV) == "1"


__all__ = ["AUTO", "CHECKED_ENV", "NEWEST", "RUN_FILES", "checked_by_parent", "describe", "plan_run"]
