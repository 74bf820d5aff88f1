"""``danlu rl``: solve the book's grid worlds (S. Zhao, Mathematical Foundations of RL) and list them."""

from __future__ import annotations

import argparse

NAME = "rl"
HELP = "grid-world RL after Zhao's book: DP and Monte Carlo solvers, preset worlds"
DESCRIPTION = """\
Solve a grid world with one of the book's algorithms and print the state values and the
policy (or JSON with --json), optionally drawing them like the book's figures (--plot).

  danlu rl solve --algo ALGO (--world PRESET | --world-file FILE) [--gamma G] [--episodes N]
                 [--episode-length L] [--epsilon E] [--seed S] [--json] [--plot FILE]
                 [--max-states N] [--max-mc-steps N]
  danlu rl worlds                    # the preset worlds

algorithms: evaluate (uniform random policy, or --policy FILE), value_iteration,
policy_iteration, truncated_pi, mc_basic, mc_es, mc_egreedy.
A world file is JSON: {"rows", "cols", "forbidden": [[r, c], ...], "target": [r, c],
"r_boundary", "r_forbidden", "r_target", "r_other", "gamma"}, cells from 0 at the top-left.
Worlds up to 25x25 print the table of arrows and values, bigger ones a summary (--json: every
cell). Worlds over 1,000,000 states are refused unless --max-states allows them; memory is
linear in the number of states (about 400 bytes each). Monte Carlo runs that would simulate more
than 20,000,000 environment steps (about a minute) are refused unless --max-mc-steps allows them.

examples:
  danlu rl worlds
  danlu rl solve --algo value_iteration --world book-5x5
  danlu rl solve --algo mc_basic --world book-5x5 --episode-length 3 --plot short.png
  danlu rl solve --algo mc_egreedy --world book-5x5 --epsilon 0.2 --episodes 3000 --seed 1 --json
  danlu rl solve --algo policy_iteration --world-file my_world.json --gamma 0.5
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="rl_command", metavar="COMMAND", required=True)
    s = sub.add_parser("solve", help="solve a world with one algorithm", description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--algo", required=True, metavar="ALGO",
                   help="evaluate, value_iteration, policy_iteration, truncated_pi, mc_basic, mc_es, mc_egreedy")
    s.add_argument("--world", metavar="PRESET", help="a preset world (see `danlu rl worlds`)")
    s.add_argument("--world-file", metavar="FILE", help="a JSON world file")
    s.add_argument("--gamma", type=float, metavar="G", help="discount rate in [0, 1) (default: the world's)")
    s.add_argument("--episodes", type=int, metavar="N",
                   help="MC episodes (mc_es, mc_egreedy) or episodes per (s, a) pair (mc_basic)")
    s.add_argument("--episode-length", type=int, metavar="L", help="MC episode length")
    s.add_argument("--epsilon", type=float, metavar="E", help="exploration rate for mc_egreedy (default 0.5)")
    s.add_argument("--epsilon-decay", type=float, metavar="D", help="multiply epsilon by D after each episode")
    s.add_argument("--eval-steps", type=int, metavar="J", help="evaluation sweeps per truncated_pi iteration (default 5)")
    s.add_argument("--policy", metavar="FILE",
                   help="for evaluate: JSON grid of action names [[\"up\", \"right\", ...], ...]")
    s.add_argument("--seed", type=int, default=0, metavar="S", help="seed for the MC methods (default 0)")
    s.add_argument("--max-mc-steps", type=int, default=None, metavar="N",
                   help="refuse MC runs that would simulate more environment steps than this "
                        "(default 20,000,000, about a minute)")
    s.add_argument("--max-states", type=int, default=None, metavar="N",
                   help="refuse worlds with more than N states (default 1,000,000: a 1000x1000 world, "
                        "~0.4 GB and about 10 s of value iteration on one core)")
    s.add_argument("--json", action="store_true", help='print {"values": [[...]], "policy": [[...]], "iterations": n}')
    s.add_argument("--plot", metavar="FILE", help="draw the policy and values (format from the extension: "
                   "png, pdf, svg, ...)")
    s.add_argument("--overwrite", action="store_true", help="replace the --plot file if it exists")
    s.set_defaults(_rl=_solve)
    w = sub.add_parser("worlds", help="list the preset worlds")
    w.add_argument("--json", action="store_true", help="print the worlds as JSON")
    w.set_defaults(_rl=_worlds)


def run(args: argparse.Namespace) -> int:
    return args._rl(args)


def _load_world(args: argparse.Namespace):
    from danlu.errors import UsageError
    from danlu.rl import WORLDS, WorldSpec, get_world

    if args.world and args.world_file:
        raise UsageError("give either --world or --world-file, not both")
    if args.world_file:
        return WorldSpec.from_json(args.world_file)
    if args.world:
        return get_world(args.world)
    raise UsageError(f"give --world PRESET or --world-file FILE; presets: {', '.join(WORLDS.names())}")


def _load_policy(path: str, world) -> object:
    import json
    import pathlib

    import numpy as np

    from danlu.errors import UsageError
    from danlu.rl import ACTIONS

    try:
        grid = json.loads(pathlib.Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise UsageError(f"--policy {path}: not valid JSON ({exc.msg})") from None
    if (not isinstance(grid, list) or len(grid) != world.rows
            or any(not isinstance(r, list) or len(r) != world.cols for r in grid)):
        raise UsageError(f"--policy {path}: expected a {world.rows}x{world.cols} grid of action names")
    bad = sorted({a for r in grid for a in r if a not in ACTIONS}, key=str)
    if bad:
        raise UsageError(f"--policy {path}: unknown action {bad[0]!r}; valid: {', '.join(ACTIONS)}")
    return np.array([ACTIONS.index(a) for r in grid for a in r], dtype=np.int64)


def _solve(args: argparse.Namespace) -> int:
    import json

    from danlu.errors import UsageError
    from danlu.rl import ALGORITHMS
    from danlu.rl.solve import MAX_MC_STEPS, MAX_STATES, check_mc_work, check_size

    algo_fn = ALGORITHMS.get(args.algo)  # unknown names raise, listing the valid ones
    del algo_fn
    if args.max_states is not None and args.max_states < 1:
        raise UsageError(f"--max-states must be >= 1, got {args.max_states}")
    if args.max_mc_steps is not None and args.max_mc_steps < 1:
        raise UsageError(f"--max-mc-steps must be >= 1, got {args.max_mc_steps}")
    max_mc_steps = MAX_MC_STEPS if args.max_mc_steps is None else args.max_mc_steps
    max_states = MAX_STATES if args.max_states is None else args.max_states
    world = _load_world(args)
    check_size(world, max_states)
    if args.gamma is not None and not 0.0 <= args.gamma < 1.0:
        raise UsageError(f"--gamma must be in [0, 1), got {args.gamma}")
    for flag, v in (("--episodes", args.episodes), ("--episode-length", args.episode_length),
                    ("--eval-steps", args.eval_steps)):
        if v is not None and v < 1:
            raise UsageError(f"{flag} must be >= 1, got {v}")
    if args.epsilon is not None and not 0.0 <= args.epsilon <= 1.0:
        raise UsageError(f"--epsilon must be in [0, 1], got {args.epsilon}")
    if args.epsilon_decay is not None and not 0.0 < args.epsilon_decay <= 1.0:
        raise UsageError(f"--epsilon-decay must be in (0, 1], got {args.epsilon_decay}")
    if args.seed < 0:
        raise UsageError(f"--seed must be non-negative, got {args.seed}")
    if args.policy and args.algo != "evaluate":
        raise UsageError("--policy only applies to --algo evaluate")
    check_mc_work(args.algo, world, max_mc_steps, episodes=args.episodes, episode_length=args.episode_length)
    if args.plot:
        from danlu.cli.paths import check_figure_path

        check_figure_path(args.plot, overwrite=args.overwrite)

    from danlu.rl import solve

    if args.gamma is not None:
        world = world.replace(gamma=args.gamma)
    policy = _load_policy(args.policy, world) if args.policy else None
    sol = solve(args.algo, world, episodes=args.episodes, episode_length=args.episode_length,
                epsilon=args.epsilon, epsilon_decay=args.epsilon_decay, eval_steps=args.eval_steps,
                policy=policy, seed=args.seed, max_states=max_states, max_mc_steps=max_mc_steps)
    if args.plot:
        from danlu.cli.paths import save_figure
        from danlu.plotting import pyplot
        from danlu.rl.plot import plot_solution

        fig = plot_solution(sol)
        fig.tight_layout()
        save_figure(fig, args.plot)
        pyplot().close(fig)
    if args.json:
        print(json.dumps(sol.to_json()))
        return 0
    print(f"{sol.algo} on {world.name} ({world.rows}x{world.cols}, gamma={world.gamma:g}): "
          f"{sol.iterations} iterations")
    if world.n_states <= TABLE_MAX_STATES:
        _print_table(sol)
    else:
        _print_summary(sol)
    if args.plot:
        print(f"plot: {args.plot}")
    return 0


#: Worlds up to this many states get the full table of arrows and values; bigger ones a summary.
TABLE_MAX_STATES = 625


def _print_table(sol) -> None:
    """One line per row: each cell's kind and policy arrows, then its values."""
    from danlu.rl import ACTIONS

    world = sol.world
    arrows = dict(zip(ACTIONS, ("↑", "→", "↓", "←", "○"), strict=True))
    names = sol.policy_names()
    values = sol.values_grid()
    width = max(len(f"{x:.2f}") for x in values.ravel()) + 1
    for r in range(world.rows):
        marks = []
        for c in range(world.cols):
            s = world.state(r, c)
            kind = "T" if s == world.target_state else "#" if world.forbidden_mask[s] else " "
            marks.append(kind + "".join(arrows[a] for a in names[r][c].split("|")).ljust(5))
        print(" ".join(marks) + "   " + " ".join(f"{x:{width}.2f}" for x in values[r]))


def _print_summary(sol) -> None:
    """A few lines for a big world: value range, the policy's action mix, where to get every cell."""
    import numpy as np

    from danlu.rl import ACTIONS

    world, v = sol.world, sol.values
    share = np.bincount(sol.policy_actions, minlength=len(ACTIONS)) / world.n_states
    print(f"values: min {v.min():.2f}, mean {v.mean():.2f}, max {v.max():.2f}; "
          f"at the target {v[world.target_state]:.2f}")
    print("policy (most probable action): " + ", ".join(f"{a} {p:.1%}" for a, p in zip(ACTIONS, share, strict=True)))
    print(f"({world.n_states:,} states: the cell table is printed up to {TABLE_MAX_STATES:,}; "
          f"--json gives every cell, --plot draws them)")


def _worlds(args: argparse.Namespace) -> int:
    import json

    from danlu.rl import list_worlds

    worlds = list_worlds()
    if args.json:
        print(json.dumps([w.to_dict() for w in worlds]))
        return 0
    for w in worlds:
        print(f"{w.name:<22} {w.rows}x{w.cols}  forbidden={len(w.forbidden):<2} target={list(w.target)}  "
              f"r=({w.r_boundary:g}, {w.r_forbidden:g}, {w.r_target:g}, {w.r_other:g})  gamma={w.gamma:g}  "
              f"{w.description}")
    return 0
