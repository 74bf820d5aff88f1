"""Adversarial noise training (ANT): a learned noise generator the classifier must withstand.

Rusak et al., "A Simple Way to Make Neural Networks Robust Against Diverse Image Corruptions"
(ECCV 2020, arXiv:2001.06057), section 4 (the "Game of Noise"): a small convolutional generator
maps i.i.d. Gaussian input to a noise pattern, rescaled to a fixed L2 norm ``eps`` per image; it is
trained to *maximise* the classifier's loss on ``clip(x + noise)``, while the classifier trains on
a mix of clean and noisy images (the task's ``ratio``; the paper's p_clean = 1 - ratio). To keep
the classifier from forgetting earlier noise, past generators are kept in a history and sampled
during training.

    >>> import torch
    >>> from danlu.robust.ant import AdversarialNoise
    >>> clf = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3)).eval()
    >>> ant = AdversarialNoise(eps=1.0, seed=0)
    >>> xn = ant(clf, torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0]))
    >>> xn.shape, len(ant.history)
    (torch.Size([4, 1, 8, 8]), 1)

Each call takes one generator step (Adam, ``lr``) against the classifier as it is now (run in eval
mode, its parameters untouched), then draws the noise for the classifier's step: from a past
generator with probability ``p_history`` (when there is one), else from the current one. The
current generator's weights join the history every ``history_every`` calls (a ring of
``history_size``). Everything the object learns is in :meth:`state_dict` for exact resume.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.robust._checks import check_count, check_eps, check_positive, eval_mode


class NoiseGenerator(nn.Module):
    """Conv net from Gaussian input z (B, C, H, W) to a noise pattern (B, C, H, W) of L2 norm ``eps`` per image.

    Args:
        channels: image channels C.
        hidden: channels of the hidden layers.
        layers: number of conv layers (>= 1).
        kernel_size: odd kernel size (1: per-pixel noise distribution; 3: spatially correlated noise).
    """

    def __init__(self, channels: int = 1, *, hidden: int = 8, layers: int = 2, kernel_size: int = 3) -> None:
        super().__init__()
        check_count(layers, "layers", minimum=1)
        if kernel_size % 2 != 1:
            raise DanluError(f"kernel_size must be odd, got {kernel_size}")
        widths = [channels, *([hidden] * (layers - 1)), channels]
        mods: list[nn.Module] = []
        for i in range(layers):
            mods.append(nn.Conv2d(widths[i], widths[i + 1], kernel_size, padding=kernel_size // 2))
            if i < layers - 1:
                mods.append(nn.LeakyReLU(0.2))
        self.net = nn.Sequential(*mods)

    def forward(self, z: Tensor, eps: float) -> Tensor:
        delta = self.net(z)  # (B, C, H, W)
        norm = delta.flatten(1).norm(dim=1).clamp(min=1e-12).view(-1, *([1] * (delta.dim() - 1)))
        return delta * (eps / norm)


class NoiseHistory:
    """A ring of past generator weights (CPU copies), sampled uniformly."""

    def __init__(self, size: int) -> None:
        self.size = check_count(size, "history_size", minimum=1)
        self.states: list[dict[str, Tensor]] = []
        self.next = 0

    def __len__(self) -> int:
        return len(self.states)

    def add(self, module: nn.Module) -> None:
        state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        if len(self.states) < self.size:
            self.states.append(state)
        else:
            self.states[self.next] = state
        self.next = (self.next + 1) % self.size

    def sample(self, generator: torch.Generator) -> dict[str, Tensor]:
        i = int(torch.randint(len(self.states), (1,), generator=generator))
        return self.states[i]


class AdversarialNoise:
    """The ANT perturbation: ``clip(x + g(z))`` with g trained against the classifier, plus a history.

    Args:
        eps: L2 norm of the noise per image (input units; e.g. 1.0 .. 3.0 for 28x28 digits in [0, 1]).
        lr: the generator's Adam learning rate.
        channels: image channels.
        p_history: probability of drawing the classifier's noise from a past generator.
        history_size: how many past generators are kept.
        history_every: calls between two additions to the history.
        clip: the declared input range.
        seed: seeds the generator's weights and every draw (z, history picks).
    """

    def __init__(self, eps: float, *, lr: float = 1e-3, channels: int = 1, p_history: float = 0.5,
                 history_size: int = 32, history_every: int = 10, clip: tuple[float, float] = (0.0, 1.0),
                 seed: int = 0, **generator_kw: Any) -> None:
        self.eps = check_eps(eps)
        self.lr = check_positive(lr, "lr")
        if not 0.0 <= p_history <= 1.0:
            raise DanluError(f"p_history must be in [0, 1], got {p_history}")
        self.p_history, self.clip = float(p_history), clip
        self.history_every = check_count(history_every, "history_every", minimum=1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.generator = NoiseGenerator(channels, **generator_kw)
        self.scratch = copy.deepcopy(self.generator)  # holds a past generator's weights when one is sampled
        self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=self.lr)
        self.history = NoiseHistory(history_size)
        self.calls = 0
        self.rng = torch.Generator().manual_seed(seed)
        self.last_loss = float("nan")

    def to(self, device: torch.device | str) -> AdversarialNoise:
        self.generator.to(device)
        self.scratch.to(device)
        return self

    def _z(self, x: Tensor) -> Tensor:
        return torch.randn(x.shape, generator=self.rng).to(x.device, x.dtype)

    def train_step(self, model: nn.Module, x: Tensor, y: Tensor) -> float:
        """One Adam step of the generator ascending the classifier's cross entropy on ``clip(x + g(z))``."""
        lo, hi = self.clip
        with eval_mode(model, "ant", warn=False):
            noisy = (x + self.generator(self._z(x), self.eps)).clamp(lo, hi)
            loss = F.cross_entropy(model(noisy), y)
            grads = torch.autograd.grad(-loss, list(self.generator.parameters()))  # the classifier's .grad untouched
        for p, g in zip(self.generator.parameters(), grads, strict=True):
            p.grad = g
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.last_loss = float(loss.detach())
        return self.last_loss

    @torch.no_grad()
    def sample(self, x: Tensor) -> Tensor:
        """``clip(x + noise)`` with noise from the current generator or (prob. ``p_history``) a past one."""
        g = self.generator
        if len(self.history) and float(torch.rand((), generator=self.rng)) < self.p_history:
            self.scratch.load_state_dict(self.history.sample(self.rng))
            g = self.scratch
        return (x + g(self._z(x), self.eps)).clamp(*self.clip)

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The training perturbation: a generator step, then noisy inputs for the classifier (detached)."""
        if x.dim() != 4 or x.shape[1] != self.generator.net[0].in_channels:
            raise DanluError(f"ant needs image batches (B, {self.generator.net[0].in_channels}, H, W), got shape "
                             f"{tuple(x.shape)} (flattened inputs: reshape them, or use attack: gaussian)")
        with torch.autocast(x.device.type, enabled=False):
            xf = x.float()
            self.train_step(model, xf, y)
            if self.calls % self.history_every == 0:
                self.history.add(self.generator)
            self.calls += 1
            return self.sample(xf).to(x.dtype)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.state_dict(), "optimizer": self.optimizer.state_dict(),
                "history": list(self.history.states), "history_next": self.history.next, "calls": self.calls,
                "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.history.states = list(state["history"])
        self.history.next = int(state["history_next"])
        self.calls = int(state["calls"])
        self.rng.set_state(state["rng"])


__all__ = ["AdversarialNoise", "NoiseGenerator", "NoiseHistory"]
