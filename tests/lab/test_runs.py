"""Lab run folders: one folder per run, an index of runs, a latest pointer, and nothing of the user's touched."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest
import torch

from danlu.errors import UsageError
from danlu.lab import CardResult
from danlu.lab.core import CardInfo
from danlu.lab.evidence import Estimate
from danlu.lab.runner import run_lab
from danlu.lab.runs import (
    INDEX_BESIDE,
    MANIFEST,
    LabRoot,
    check_tag,
    is_run_id,
    make_run_id,
    selection_tag,
)


def _info(card_id: str, held: bool | None = True, effect: float | None = None) -> CardInfo:
    def fn(ctx):
        effects = {"gain": (Estimate.of(effect, 0.5), f"{effect:+.1f} ± 0.5")} if effect is not None else {}
        return CardResult(table=[{"x": 1}], held=held, reason=f"{card_id} measured", effects=effects)

    return CardInfo(id=card_id, title=card_id, claim="A claim.", source="test", area="test",
                    quick={}, full={}, slow=False, fn=fn)


def _run(root: LabRoot, cards, *, mode="quick", seed=0, tag="all", when=None):
    run_dir = root.new_run(make_run_id(mode, tag, seed=seed, now=when))
    runs = run_lab(cards, out=run_dir, device=torch.device("cpu"), seed=seed, mode=mode)
    root.refresh(latest=run_dir.name)
    return run_dir, runs


def test_run_ids_sort_by_time_and_name_what_ran():
    t0, t1 = dt.datetime(2026, 1, 2, 3, 4, 5), dt.datetime(2026, 1, 2, 3, 4, 6)
    a = make_run_id("quick", "all", now=t0)
    b = make_run_id("full", selection_tag(["tr-relu", "sys-hw", "att-nw"], None), seed=2, user_tag="gpu", now=t1)
    assert a == "20260102-030405-quick-all"
    assert b == "20260102-030406-full-tr-relu+2-s2-gpu"
    assert sorted([b, a]) == [a, b] and is_run_id(a) and is_run_id(b) and not is_run_id("index.html")
    assert selection_tag(None, ["tricks", "rl"]) == "rl+tricks" and selection_tag(["x"], None) == "x"


@pytest.mark.parametrize("tag", ["", "a/b", "-lead", "x" * 41, "a b"])
def test_bad_tag_is_a_usage_error(tag):
    with pytest.raises(UsageError, match="--tag"):
        check_tag(tag)


def test_same_second_runs_get_fresh_folders(tmp_path):
    root = LabRoot(tmp_path)
    a, b = root.new_run("20260101-000000-quick-all"), root.new_run("20260101-000000-quick-all")
    assert a != b and b.name == "20260101-000000-quick-all-2" and (b / "figures").is_dir()


def test_a_subset_run_does_not_replace_the_full_report(tmp_path):
    """Issue 22: `--only tr-relu sys-hw` silently replaced a full report. Now both stay."""
    root = LabRoot(tmp_path)
    full_dir, _ = _run(root, [_info("a"), _info("b"), _info("c", held=False)],
                       when=dt.datetime(2026, 1, 1, 10, 0, 0))
    before = {p: p.read_bytes() for p in full_dir.rglob("*") if p.is_file()}
    sub_dir, _ = _run(root, [_info("a", held=False)], tag="a", when=dt.datetime(2026, 1, 1, 11, 0, 0))
    assert {p: p.read_bytes() for p in full_dir.rglob("*") if p.is_file()} == before
    assert [r.run_id for r in root.runs()] == [sub_dir.name, full_dir.name]  # newest first
    index = (tmp_path / "index.html").read_text()
    assert full_dir.name in index and sub_dir.name in index
    assert (tmp_path / "latest.txt").read_text().strip() == sub_dir.name
    assert f"url={sub_dir.name}/index.html" in (tmp_path / "latest.html").read_text()
    if (tmp_path / "latest").is_symlink():
        assert os.readlink(tmp_path / "latest") == sub_dir.name
        assert json.loads((tmp_path / "latest" / "results.json").read_text())["meta"]["run_id"] == sub_dir.name


def test_a_users_index_html_is_left_alone(tmp_path):
    mine = b"<html>my own page</html>"
    (tmp_path / "index.html").write_bytes(mine)
    (tmp_path / "latest.txt").write_bytes(b"my notes")
    root = LabRoot(tmp_path)
    run_dir, _ = _run(root, [_info("a")])
    assert (tmp_path / "index.html").read_bytes() == mine
    assert (tmp_path / "latest.txt").read_bytes() == b"my notes"
    assert run_dir.name in (tmp_path / INDEX_BESIDE).read_text()
    assert root.index_name() == INDEX_BESIDE
    assert any("index.html is not a file the lab wrote" in n and INDEX_BESIDE in n for n in root.notes)
    assert any("latest.txt is not a file the lab wrote" in n for n in root.notes)


def test_a_lab_file_the_user_edited_is_no_longer_the_labs(tmp_path):
    root = LabRoot(tmp_path)
    _run(root, [_info("a")])
    (tmp_path / "index.html").write_text("edited by hand")
    _run(root, [_info("b")], tag="b")
    assert (tmp_path / "index.html").read_text() == "edited by hand"
    assert (tmp_path / INDEX_BESIDE).exists()


def test_the_lab_rewrites_its_own_unchanged_files(tmp_path):
    root = LabRoot(tmp_path)
    first, _ = _run(root, [_info("a")], when=dt.datetime(2026, 1, 1, 10, 0, 0))
    second, _ = _run(root, [_info("a")], when=dt.datetime(2026, 1, 1, 10, 0, 1))
    assert second.name in (tmp_path / "index.html").read_text() and not (tmp_path / INDEX_BESIDE).exists()
    assert root.notes == []


def test_a_foreign_manifest_is_an_error(tmp_path):
    (tmp_path / MANIFEST).write_text('{"something": "else"}')
    with pytest.raises(UsageError, match="not a danlu lab manifest"):
        LabRoot(tmp_path).ensure()


def test_unwritable_root_is_a_usage_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError, match="not a writable directory"):
        LabRoot(tmp_path / "f" / "sub").ensure()


def test_related_finds_the_newest_other_run_per_mode(tmp_path):
    root = LabRoot(tmp_path)
    _run(root, [_info("a", held=False)], mode="full", when=dt.datetime(2026, 1, 1, 9, 0, 0))
    _run(root, [_info("a", held=True, effect=2.0)], mode="full", when=dt.datetime(2026, 1, 1, 10, 0, 0))
    q, _ = _run(root, [_info("a", held=None)], when=dt.datetime(2026, 1, 1, 11, 0, 0))
    rel = root.related(["a", "zzz"], exclude=q.name)
    assert set(rel) == {"a"} and set(rel["a"]) == {"full"}
    assert rel["a"]["full"]["verdict"] == "held" and rel["a"]["full"]["run"].startswith("20260101-100000")
    assert rel["a"]["full"]["effects"]["gain"]["text"] == "+2.0 ± 0.5"
    # and the index of runs shows both modes' latest verdicts for the card
    index = (tmp_path / "index.html").read_text()
    assert "Latest verdict of each card" in index and "20260101-100000-full-all/index.html#a" in index


def test_results_are_written_after_every_card_and_on_interrupt(tmp_path):
    def stop(ctx):
        raise KeyboardInterrupt

    interrupting = CardInfo(id="stop", title="stop", claim="A claim.", source="t", area="t", quick={}, full={},
                            slow=False, fn=stop)
    seen = []

    def on_done(run):
        seen.append(len(json.loads((tmp_path / "results.json").read_text())["cards"]))

    with pytest.raises(KeyboardInterrupt):
        run_lab([_info("a"), _info("b"), interrupting, _info("c")], out=tmp_path, device=torch.device("cpu"),
                on_done=on_done)
    res = json.loads((tmp_path / "results.json").read_text())
    assert seen == [1, 2]
    assert res["meta"]["status"] == "interrupted" and [c["id"] for c in res["cards"]] == ["a", "b"]
    assert "interrupted" in (tmp_path / "index.html").read_text()
