"""Helpers shared by the trainer tests (a uniquely named module: tests/ is not a package)."""

from __future__ import annotations

import os
import subprocess
import sys

TINY = ["data.name=digits", "data.args={flatten: true}", "data.batch_size=32", "model.name=mlp",
        "model.args={depth: 2, width: 32, dropout: 0.1}", "optim.lr=0.01", "loop.epochs=2", "log.progress=false",
        "log.every_steps=5"]

#: a seconds-long GAN run on a ring of 8 Gaussians, n_critic = 3 (so resumes land mid-cycle)
GAN = ["task.name=gan", "task.args={n_critic: 3, generator: {name: mlp, args: {depth: 2, width: 32}}, "
       "critic: {name: mlp, args: {depth: 2, width: 32}}}", "data.name=gaussian_mixture",
       "data.args={n: 1000, classes: 8, dim: 2, spread: 2.0, std: 0.1}", "data.batch_size=32", "optim.lr=0.002",
       "optim.weight_decay=0", "optim.args={betas: [0.5, 0.999]}", "schedule.name=cosine", "loop.epochs=3",
       "log.progress=false", "log.every_steps=5"]

#: a child process that trains a YAML config and SIGKILLs itself at step AT (mid_epoch) or at the
#: AT-th os.replace, i.e. in the middle of a checkpoint write (during_save)
KILL_CHILD = r"""
import os, signal, sys
from danlu.train import Trainer, load_config

cfg_path, out, mode, at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cfg = load_config(cfg_path, [f"out_dir={out}"])

def kill_at_step(event, trainer):
    if event == "step" and trainer.state.step == at:
        os.kill(os.getpid(), signal.SIGKILL)

if mode == "during_save":  # die between writing the temp file and renaming it
    real_replace, calls = os.replace, [0]
    def replace(src, dst):
        calls[0] += 1
        if calls[0] == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst)
    os.replace = replace
Trainer(cfg, callbacks=[kill_at_step] if mode == "mid_epoch" else []).fit()
"""


def config_yaml(overrides: list[str]) -> str:
    """The YAML text of the default config with ``overrides`` applied."""
    import yaml

    from danlu.train import TrainConfig, apply_overrides, to_dict

    return yaml.safe_dump(to_dict(apply_overrides(TrainConfig(), overrides)))


def run_python(args: list[str], *, timeout: float = 240, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python args...`` single-threaded (so float results are bit-reproducible across runs)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc
