"""Lab run folders: every ``danlu lab`` run writes into a fresh folder of its own under a lab root.

Layout of a lab root (``./danlu-lab`` by default, ``--out DIR`` otherwise)::

    danlu-lab/
      20260101-120000-quick-all/        one folder per run: index.html, results.json, figures/
      20260101-130512-full-tricks-s1/
      index.html                        the index of runs (rewritten after each run)
      latest -> 20260101-130512-...     symlink to the newest run, where the OS allows one
      latest.txt                        the newest run's id (works everywhere)
      latest.html                       a redirect page to the newest run's report
      compare/A__vs__B.html             pages written by ``danlu lab --compare``
      .danlu-lab.json                   manifest: the root files the lab wrote, with their sha256

Run ids sort by time: ``<YYYYMMDD-HHMMSS>-<mode>-<tag>``; a run never reuses a folder (the folder
is created exclusively; a clash within the same second gets ``-2``, ``-3``).

Nothing lost: the lab never deletes or overwrites a file it did not write. A root file is
replaced only when the manifest says the lab wrote it and its bytes are unchanged since (sha256);
otherwise it stays as it is and the lab writes beside it (``danlu-runs.html`` instead of
``index.html``) and says so in :attr:`LabRoot.notes`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import pathlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from danlu.errors import UsageError
from danlu.files import write_text

MANIFEST = ".danlu-lab.json"
_MANIFEST_FORMAT = "danlu-lab-manifest/1"
#: The index of runs, and where it goes when a file the lab did not write holds that name.
INDEX, INDEX_BESIDE = "index.html", "danlu-runs.html"
LATEST_LINK, LATEST_TXT, LATEST_HTML = "latest", "latest.txt", "latest.html"
_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,39}$")
_RUN_ID_RE = re.compile(r"^\d{8}-\d{6}-(quick|full)(-[A-Za-z0-9._+-]+)?$")


def check_tag(tag: str) -> str:
    """Validate a user's ``--tag`` (letters, digits, ``._+-``; up to 40 characters)."""
    if not _TAG_RE.match(tag):
        raise UsageError(f"--tag {tag!r} must be 1-40 letters, digits or . _ + - (starting with a letter or digit)")
    return tag


def selection_tag(only: Sequence[str] | None, areas: Sequence[str] | None) -> str:
    """A short tag naming what a run selected: ``all``, ``tricks``, ``tr-relu+2`` (first id + count)."""
    if only:
        tag = only[0] if len(only) == 1 else f"{only[0]}+{len(only) - 1}"
    elif areas:
        tag = "+".join(sorted(set(areas)))
    else:
        tag = "all"
    return re.sub(r"[^A-Za-z0-9._+-]", "_", tag)[:32]


def make_run_id(mode: str, tag: str, *, seed: int = 0, user_tag: str | None = None,
                now: _dt.datetime | None = None) -> str:
    """``20260101-120000-quick-all`` (+ ``-s<seed>`` when the seed is not 0, + ``-<user_tag>``)."""
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    parts = [stamp, mode, tag]
    if seed:
        parts.append(f"s{seed}")
    if user_tag:
        parts.append(user_tag)
    return "-".join(parts)


def _sha256(path: pathlib.Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@contextlib.contextmanager
def _locked(root: pathlib.Path) -> Iterator[None]:
    """Serialise root updates between labs running at once (POSIX ``flock``; a no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # Windows: writes are still atomic renames; at worst an index is one run stale
        yield
        return
    with open(root / ".danlu-lab.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass
class RunSummary:
    """One run found under a lab root (read from its results.json)."""

    run_id: str
    path: pathlib.Path
    meta: dict[str, Any]
    cards: list[dict[str, Any]]

    @property
    def created(self) -> str:
        return str(self.meta.get("created", ""))

    @property
    def mode(self) -> str:
        return str(self.meta.get("mode", "?"))

    def tally(self) -> dict[str, int]:
        from danlu.lab.core import VERDICTS

        counts = dict.fromkeys(VERDICTS, 0)
        for c in self.cards:
            counts[c.get("verdict", "error")] = counts.get(c.get("verdict", "error"), 0) + 1
        return counts


def read_results(path: pathlib.Path) -> dict[str, Any] | None:
    """The results.json dict at ``path``, or ``None`` when it is missing or not a lab results file."""
    try:
        data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("meta"), dict) or not isinstance(data.get("cards"), list):
        return None
    return data


@dataclass
class LabRoot:
    """A folder holding lab runs; see the module docstring for the layout and the ownership rule.

    Attributes:
        path: the root folder.
        notes: what the lab did differently from the default layout and why (printed by the CLI).
    """

    path: pathlib.Path
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.path = pathlib.Path(self.path)

    # -- creating ---------------------------------------------------------------------------
    def ensure(self) -> LabRoot:
        """Create the root (and parents) and check it is a writable folder; ``UsageError`` if not."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".danlu-write-test-{os.getpid()}"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise UsageError(f"--out {str(self.path)!r} is not a writable directory "
                             f"({exc.strerror or exc})") from None
        self._manifest()  # a foreign file under the manifest's name is an error before any run
        return self

    def new_run(self, run_id: str) -> pathlib.Path:
        """Create ``<root>/<run_id>`` exclusively (``-2``, ``-3``, ... on a clash) and return it."""
        self.ensure()
        for k in range(1, 1000):
            path = self.path / (run_id if k == 1 else f"{run_id}-{k}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            (path / "figures").mkdir()
            return path
        raise UsageError(f"--out {str(self.path)!r}: could not create a fresh run folder for {run_id!r}")

    # -- the manifest and managed files ------------------------------------------------------
    def _manifest(self) -> dict[str, Any]:
        p = self.path / MANIFEST
        if not p.exists():
            return {"format": _MANIFEST_FORMAT, "files": {}}
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            data = None
        if not isinstance(data, dict) or data.get("format") != _MANIFEST_FORMAT or not isinstance(data.get("files"), dict):
            raise UsageError(f"{str(p)!r} exists but is not a danlu lab manifest; choose another --out")
        return data

    def _save_manifest(self, manifest: dict[str, Any]) -> None:
        write_text(self.path / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))

    def owns(self, rel: str, manifest: dict[str, Any] | None = None) -> bool:
        """True when ``rel`` (a path under the root) is absent, or the lab wrote it and it is unchanged."""
        target = self.path / rel
        if not target.exists() and not target.is_symlink():
            return True
        rec = (manifest or self._manifest())["files"].get(rel)
        if rec is None:
            return False
        if rec == "symlink":
            return target.is_symlink()
        return _sha256(target) == rec

    def write_managed(self, rel: str, text: str, *, beside: str | None = None) -> pathlib.Path | None:
        """Write ``text`` to ``<root>/<rel>`` if the lab owns that name, else to ``beside``.

        Returns the path written, or ``None`` when neither name is the lab's (a note says so).
        """
        with _locked(self.path):
            manifest = self._manifest()
            for name in (rel, beside):
                if name is None:
                    continue
                if self.owns(name, manifest):
                    target = self.path / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    write_text(target, text)
                    manifest["files"][name] = hashlib.sha256(text.encode("utf-8")).hexdigest()
                    self._save_manifest(manifest)
                    if name != rel:
                        self.notes.append(f"{self.path / rel} is not a file the lab wrote (an older danlu report "
                                          f"or your own); left it as is and wrote {target} instead")
                    return target
            self.notes.append(f"{self.path / rel} is not a file the lab wrote; left it as is")
            return None

    def _point_latest(self, run_id: str) -> None:
        """Point ``latest`` (symlink), ``latest.txt`` and ``latest.html`` at ``run_id``."""
        self.write_managed(LATEST_TXT, run_id + "\n")
        href = f"{run_id}/index.html"
        self.write_managed(LATEST_HTML, (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<meta http-equiv='refresh' content='0; url={href}'><title>latest danlu lab run</title></head>"
            f"<body><a href='{href}'>latest run: {run_id}</a></body></html>\n"))
        with _locked(self.path):
            manifest = self._manifest()
            link = self.path / LATEST_LINK
            if not self.owns(LATEST_LINK, manifest):
                self.notes.append(f"{link} is not the lab's; left it as is (see {self.path / LATEST_TXT})")
                return
            tmp = self.path / f".{LATEST_LINK}.{os.getpid()}.tmp"
            try:
                tmp.unlink(missing_ok=True)
                os.symlink(run_id, tmp, target_is_directory=True)
                os.replace(tmp, link)
            except (OSError, NotImplementedError):  # no symlinks here (e.g. Windows without the right)
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)
                return
            manifest["files"][LATEST_LINK] = "symlink"
            self._save_manifest(manifest)

    def index_name(self) -> str:
        """The file name the index of runs has here: ``index.html``, or ``danlu-runs.html`` beside a foreign one."""
        return INDEX if self.owns(INDEX) else INDEX_BESIDE

    # -- reading -----------------------------------------------------------------------------
    def runs(self) -> list[RunSummary]:
        """Every run folder under the root (a sub-folder with a lab results.json), newest first."""
        found: list[RunSummary] = []
        if not self.path.is_dir():
            return found
        for sub in self.path.iterdir():
            if sub.is_symlink() or not sub.is_dir():
                continue
            data = read_results(sub / "results.json")
            if data is not None:
                found.append(RunSummary(sub.name, sub, data["meta"], data["cards"]))
        return sorted(found, key=lambda r: (r.created, r.run_id), reverse=True)

    def related(self, card_ids: Sequence[str], *, exclude: str) -> dict[str, dict[str, dict[str, Any]]]:
        """For each card, the newest other run of it per mode: ``{card: {mode: {run, verdict, effects}}}``."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        wanted = set(card_ids)
        for run in self.runs():  # newest first: the first hit per (card, mode) is the latest
            if run.run_id == exclude or run.meta.get("status") == "running":
                continue
            for c in run.cards:
                cid = c.get("id")
                if cid in wanted and run.mode not in out.setdefault(cid, {}):
                    out[cid][run.mode] = {"run": run.run_id, "verdict": c.get("verdict", "?"),
                                          "effects": c.get("effects") or {}, "created": run.created}
        return out

    # -- the index of runs -------------------------------------------------------------------
    def refresh(self, latest: str | None = None) -> pathlib.Path | None:
        """Rewrite the index of runs (and point ``latest`` at ``latest``); return the index's path."""
        from danlu.lab.runs_index import render_runs_index

        self.ensure()
        if latest is not None:
            self._point_latest(latest)
        compares = sorted(p.name for p in (self.path / "compare").glob("*.html")) if (self.path / "compare").is_dir() else []
        page = render_runs_index(self.runs(), root_name=str(self.path), compares=compares)
        return self.write_managed(INDEX, page, beside=INDEX_BESIDE)


def is_run_id(name: str) -> bool:
    """True for a folder name made by :func:`make_run_id`."""
    return bool(_RUN_ID_RE.match(name))
