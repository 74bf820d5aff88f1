"""GridWorld / WorldSpec: the book's rules (chapter 1), presets, JSON files, bad worlds, Gymnasium API."""

from __future__ import annotations

import json

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from danlu.errors import DanluError, UnknownNameError
from danlu.rl import ACTIONS, GridWorld, WorldSpec, get_world, list_worlds, random_world


def _book(world: WorldSpec, s: int, a: int) -> tuple[int, float]:
    """The rules written out by hand, independently of the vectorised tables."""
    r, c = divmod(s, world.cols)
    dr, dc = {"up": (-1, 0), "right": (0, 1), "down": (1, 0), "left": (0, -1), "stay": (0, 0)}[ACTIONS[a]]
    nr, nc = r + dr, c + dc
    if not (0 <= nr < world.rows and 0 <= nc < world.cols):
        return s, world.r_boundary
    if (nr, nc) == world.target:
        return nr * world.cols + nc, world.r_target
    if (nr, nc) in world.forbidden:
        return nr * world.cols + nc, world.r_forbidden
    return nr * world.cols + nc, world.r_other


@pytest.mark.parametrize("name", [w.name for w in list_worlds()] + ["random"])
def test_tables_follow_the_books_rules(name):
    world = random_world(4, 7, seed=3, r_forbidden=-5.0) if name == "random" else get_world(name)
    P, R = world.P, world.R
    assert P.shape == (world.n_states, 5, world.n_states) and R.shape == (world.n_states, 5)
    np.testing.assert_allclose(P.sum(-1), 1.0)
    for s in range(world.n_states):
        for a in range(5):
            s2, r = _book(world, s, a)
            assert world.next_state[s, a] == s2 and P[s, a, s2] == 1.0
            assert R[s, a] == r


def test_book_5x5_layout():
    w = get_world("book-5x5")
    book_states = sorted(w.state(r, c) + 1 for r, c in w.forbidden)  # the book's s_i numbering
    assert book_states == [7, 8, 13, 17, 19, 22] and w.target_state + 1 == 18
    assert (w.r_boundary, w.r_forbidden, w.r_target, w.r_other, w.gamma) == (-1, -1, 1, 0, 0.9)
    assert get_world("book-5x5-forbidden10").r_forbidden == -10


def test_staying_in_forbidden_and_target_cells_is_rewarded_as_entering():
    w = get_world("book-5x5")
    stay = ACTIONS.index("stay")
    assert w.reward[w.target_state, stay] == 1.0
    f = w.state(*w.forbidden[0])
    assert w.reward[f, stay] == -1.0
    # bouncing off the boundary from the target gives r_boundary and stays
    w2 = get_world("book-2x2")
    assert w2.reward[w2.target_state, ACTIONS.index("down")] == -1.0
    assert w2.next_state[w2.target_state, ACTIONS.index("down")] == w2.target_state


@pytest.mark.parametrize("bad, match", [
    ({"target": [1, 1], "forbidden": [[1, 1]]}, "inside a forbidden cell"),
    ({"target": [5, 0]}, "off the 3x4 grid"),
    ({"forbidden": [[0, -1]]}, "off the 3x4 grid"),
    ({"gamma": 1.0}, r"gamma must be in \[0, 1\)"),
    ({"gamma": -0.1}, r"gamma must be in \[0, 1\)"),
    ({"rows": 0}, "rows must be a positive integer"),
    ({"forbidden": [[0]]}, r"\[row, col\] pair"),
    ({"r_target": float("nan")}, "r_target must be a finite number"),
])
def test_invalid_worlds_raise_clear_errors(bad, match):
    base = {"rows": 3, "cols": 4, "forbidden": [], "target": [2, 3]}
    with pytest.raises(DanluError, match=match):
        WorldSpec.from_dict({**base, **bad})


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="book-5x5") as e:
        get_world("book-9x9")
    assert "unknown world preset 'book-9x9'" in str(e.value)


def test_json_round_trip_and_errors(tmp_path):
    w = get_world("book-5x5-forbidden10")
    path = tmp_path / "w.json"
    w.to_json(path)
    assert WorldSpec.from_json(path) == w
    path.write_text(json.dumps({"rows": 2, "cols": 2, "target": [1, 1], "colour": "red"}))
    with pytest.raises(DanluError, match="unknown key.*colour.*valid"):
        WorldSpec.from_json(path)
    path.write_text("{not json")
    with pytest.raises(DanluError, match="not valid JSON"):
        WorldSpec.from_json(path)
    path.write_text(json.dumps({"rows": 2}))
    with pytest.raises(DanluError, match="missing key"):
        WorldSpec.from_json(path)
    with pytest.raises(FileNotFoundError):
        WorldSpec.from_json(tmp_path / "nope.json")


def test_gymnasium_env_checker_passes():
    env = GridWorld.from_preset("book-5x5", max_episode_steps=20)
    assert isinstance(env, gymnasium.Env)
    check_env(env, skip_render_check=True)
    check_env(GridWorld.from_preset("book-3x3", start=None))


def test_env_steps_match_the_model_and_do_not_terminate():
    env = GridWorld.from_preset("book-5x5", max_episode_steps=50, render_mode="ansi")
    obs, info = env.reset(seed=1)
    assert obs == 0 and info["cell"] == (0, 0)
    rng = np.random.default_rng(0)
    for t in range(50):
        a = int(rng.integers(5))
        s = env.state
        obs, r, term, trunc, _ = env.step(a)
        assert obs == env.world.next_state[s, a] and r == env.world.reward[s, a]
        assert term is False and trunc == (t == 49)
    assert "T" in env.render()
    obs, _ = env.reset(options={"state": (3, 2)})
    assert obs == 17 and env.step(4)[:3] == (17, 1.0, False)
    with pytest.raises(DanluError, match="action"):
        env.step(7)


def test_random_start_is_seeded():
    env = GridWorld.from_preset("book-5x5", start=None)
    a = [env.reset(seed=s)[0] for s in range(5)]
    b = [env.reset(seed=s)[0] for s in range(5)]
    assert a == b and len(set(a)) > 1


def test_dense_P_guard_for_large_worlds():
    w = random_world(100, 100, seed=0)
    assert w.next_state.shape == (10_000, 5)
    with pytest.raises(DanluError, match="next_state"):
        _ = w.P
