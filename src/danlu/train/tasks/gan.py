"""GAN: a generator and a critic trained in turns, with two optimizers and an n_critic schedule.

Goodfellow et al. 2014, "Generative Adversarial Nets" (arXiv:1406.2661): the critic (discriminator)
learns to tell data from generated samples, the generator to fool it. Arjovsky et al. 2017,
"Wasserstein GAN" (arXiv:1701.07875): ``n_critic`` critic steps per generator step, weights of the
critic clipped to [-c, c] after each of its steps. Gulrajani et al. 2017, "Improved Training of
Wasserstein GANs" (arXiv:1704.00028): ``objective: wasserstein-gp`` replaces the clipping by the
gradient penalty ``gp_weight · E[(‖∇D(x̂)‖ - 1)²]`` at interpolates x̂ = ε x + (1 - ε) G(z), with
ε ~ U[0, 1] per sample (a function of seed, epoch and sample index, like z; the critic scores real,
fake and interpolated samples in one forward). The papers' optimizers are RMSProp (lr 5e-5) for
WGAN and Adam (lr 1e-4, betas (0, 0.9)) for WGAN-GP; pass them in ``optim``. The toy this task is tested on is the ring of
Gaussians of Metz et al. 2017, "Unrolled Generative Adversarial Networks" (arXiv:1611.02163):
``data.name=gaussian_mixture`` with ``dim: 2`` puts the class means on a circle.

Phases: ``critic`` and ``generator``, one optimizer each (``optim`` for both, ``task.args.critic_lr``
for the critic's own rate; ``schedule`` for each over its own number of steps). An engine step
trains one of them: ``n_critic`` critic steps, then one generator step, and again. The counter is
the task's state (saved in checkpoints). Each step consumes one batch of data; a generator step
uses only its size and sample indices.

Noise: z for training sample ``i`` in epoch ``e`` is row ``i`` of a table drawn from a generator
seeded by (seed, e), so it depends neither on the rank, the batch order nor the global RNG: two
DDP processes with batch b see exactly the samples and noise of one process with batch 2b.

Batches are ``(x, index)``: x (B, D) samples and index (B,) the sample's position in its split
(:meth:`Gan.prepare` replaces the labels by it; the labels, the mixture components, serve only to
locate the components in :meth:`Gan.setup`).

Evaluation (``val_*``, ``test_*``): ``d_loss`` and ``g_loss`` on held-out data and noise fixed per
split (val and test draw different noise); ``quality``:
the fraction of generated samples within 3 sigma of the nearest mixture component (means and the
pooled sigma estimated from the labelled training data); ``modes``: how many components receive
at least a quarter of the samples a uniform generator would give them (our threshold).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, TensorDataset

from danlu.errors import DanluError
from danlu.registry import Registry
from danlu.train.schema import ConfigError, doc_field
from danlu.train.tasks import TASKS
from danlu.train.tasks.base import Context, Optimization, StepOutput, Task

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from danlu.data import Splits
    from danlu.train.config import TrainConfig

NOISE_BLOCK = 1024  # noise rows drawn per seeded block: row i never depends on how many rows exist
EVAL_STREAMS = {"val": 1, "test": 2}  # noise streams of the evaluated splits (0: training)
GP_STREAM = 4  # noise stream of WGAN-GP's interpolation weights
MODE_SHARE = 0.25  # a component is "covered" with >= this fraction of a uniform generator's share


# ------------------------------------------------------------------------------ objectives
class Objective:
    """A GAN objective: the critic's and the generator's loss from critic scores (B, 1)."""

    clips_critic: ClassVar[bool] = False  # clip critic weights after each critic step (WGAN)
    penalised: ClassVar[bool] = False  # add the gradient penalty to the critic's loss (WGAN-GP)

    def critic_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        raise NotImplementedError

    def generator_loss(self, fake: Tensor) -> Tensor:
        raise NotImplementedError


OBJECTIVES: Registry[type[Objective]] = Registry("gan objective")


@OBJECTIVES.register("nonsaturating")
class NonSaturating(Objective):
    """Goodfellow et al. 2014 with the non-saturating generator loss -log D(G(z)) (their section 3)."""

    def critic_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.softplus(-real).mean() + F.softplus(fake).mean()  # -log sigmoid(real) - log(1 - sigmoid(fake))

    def generator_loss(self, fake: Tensor) -> Tensor:
        return F.softplus(-fake).mean()  # -log sigmoid(fake)


@OBJECTIVES.register("wasserstein")
class Wasserstein(Objective):
    """Arjovsky et al. 2017: the critic maximises E[f(real)] - E[f(fake)] under weight clipping."""

    clips_critic: ClassVar[bool] = True

    def critic_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return fake.mean() - real.mean()

    def generator_loss(self, fake: Tensor) -> Tensor:
        return -fake.mean()


@OBJECTIVES.register("wasserstein-gp")
class WassersteinGP(Wasserstein):
    """Gulrajani et al. 2017: the Wasserstein critic loss plus the gradient penalty, no clipping."""

    clips_critic: ClassVar[bool] = False
    penalised: ClassVar[bool] = True


# ------------------------------------------------------------------------------ model
class GAN(nn.Module):
    """A generator (B, latent) -> (B, D) and a critic (B, D) -> (B, 1); ``forward(z)`` generates."""

    def __init__(self, generator: nn.Module, critic: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        self.critic = critic

    def forward(self, z: Tensor) -> Tensor:
        return self.generator(z)  # (B, D)


def _unwrap(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, DistributedDataParallel) else m


def _net(spec: dict[str, Any], where: str, **sizes: int) -> nn.Module:
    from danlu.models import create_model

    try:
        return create_model(spec["name"], **{**sizes, **spec.get("args", {})})
    except TypeError as exc:
        raise DanluError(f"{where}: model {spec['name']!r} rejected its args {spec.get('args', {})}: {exc}") from None


# ------------------------------------------------------------------------------ the task
@dataclass
class GanArgs:
    """Fields of the gan task (``task.args``)."""

    latent_dim: int = doc_field(2, "size of the generator's input noise z ~ N(0, I)")
    generator: dict[str, Any] = doc_field({"name": "mlp", "args": {"depth": 2, "width": 64}},
                                          "the generator: a registered model and its args (in_features = "
                                          "latent_dim and num_classes = the data dimension are filled in)")
    critic: dict[str, Any] = doc_field({"name": "mlp", "args": {"depth": 2, "width": 64}},
                                       "the critic: a registered model and its args (in_features = the data "
                                       "dimension, num_classes = 1)")
    objective: str = doc_field("nonsaturating", "nonsaturating (Goodfellow et al. 2014) or wasserstein "
                                                "(Arjovsky et al. 2017, critic weights clipped) or wasserstein-gp "
                                                "(Gulrajani et al. 2017, gradient penalty)")
    n_critic: int = doc_field(1, "critic steps per generator step (WGAN uses 5)")
    clip: float = doc_field(0.01, "wasserstein: clip every critic weight to [-clip, clip] after a critic step")
    critic_lr: float | None = doc_field(None, "the critic's learning rate (null: optim.lr)")
    gp_weight: float = doc_field(10.0, "wasserstein-gp: the gradient penalty's weight lambda (10 in the paper)")


@TASKS.register("gan")
class Gan(Task):
    """Generator and critic in turns (see the module docstring). Config sections read: data, optim, schedule."""

    name: ClassVar[str] = "gan"
    Args: ClassVar[type] = GanArgs
    phases: ClassVar[tuple[str, ...]] = ("critic", "generator")
    reads: ClassVar[tuple[str, ...]] = ("data", "optim", "schedule")
    default_monitor: ClassVar[str] = "quality"

    def __init__(self, args: GanArgs | None = None) -> None:
        super().__init__(args)
        self.check_args(self.args)
        self.objective = OBJECTIVES.get(self.args.objective)()
        self.critic_steps = 0  # critic steps since the last generator step: the n_critic counter
        self.centers: Tensor | None = None  # (K, D) mixture means, from setup()
        self.sigma = 1.0
        self._noise: dict[int, tuple[tuple[int, int], Tensor]] = {}  # stream -> ((seed, epoch), (rows, latent))
        self._consts: tuple[Tensor, Tensor] | None = None
        self._rows = 0  # samples in the largest split given to prepare()
        self._critic_params: list[nn.Parameter] = []  # frozen during generator steps (from wrap())

    @classmethod
    def check_args(cls, args: GanArgs, where: str = "task.args") -> None:
        from danlu.models import MODELS, list_models

        if args.objective not in OBJECTIVES:
            raise ConfigError(f"{where}.objective: unknown gan objective {args.objective!r}; "
                              f"valid: {', '.join(OBJECTIVES.names())}")
        for key in ("latent_dim", "n_critic"):
            if getattr(args, key) < 1:
                raise ConfigError(f"{where}.{key} must be >= 1, got {getattr(args, key)}")
        if not args.clip > 0 or (args.critic_lr is not None and not args.critic_lr > 0):
            raise ConfigError(f"{where}: clip and critic_lr must be positive, got {args.clip}, {args.critic_lr}")
        if not args.gp_weight >= 0:
            raise ConfigError(f"{where}.gp_weight must be >= 0, got {args.gp_weight}")
        list_models()
        for key in ("generator", "critic"):
            spec = getattr(args, key)
            if not isinstance(spec.get("name"), str) or not isinstance(spec.get("args", {}), dict) or \
                    set(spec) - {"name", "args"}:
                raise ConfigError(f"{where}.{key} must be {{name: MODEL, args: {{...}}}}, got {spec!r}")
            if spec["name"] not in MODELS:
                raise ConfigError(f"{where}.{key}.name: unknown model {spec['name']!r}; valid: "
                                  f"{', '.join(MODELS.names())}")

    @classmethod
    def monitors(cls, cfg: TrainConfig) -> list[str]:
        return ["d_loss", "g_loss", "quality", "modes"]

    # -------------------------------------------------------------- building
    def build_model(self, cfg: TrainConfig, splits: Splits) -> nn.Module:
        dim = int(torch.tensor(splits.input_shape).prod()) if splits.input_shape else 1
        return self.make_model(dim)

    def make_model(self, dim: int) -> GAN:
        """The generator and critic for data of dimension ``dim`` (uses the global RNG: seed first)."""
        a = self.args
        return GAN(_net(a.generator, "task.args.generator", in_features=a.latent_dim, num_classes=dim),
                   _net(a.critic, "task.args.critic", in_features=dim, num_classes=1))

    def build_optimizers(self, cfg: TrainConfig, model: nn.Module, total_steps: int) -> dict[str, Optimization]:
        from danlu.train.build import build_optimization

        critic_steps, generator_steps = self.phase_steps(total_steps)
        c_opt, c_sched = build_optimization(cfg, model.critic, max(critic_steps, 1), lr=self.args.critic_lr)
        g_opt, g_sched = build_optimization(cfg, model.generator, max(generator_steps, 1))
        return {"critic": Optimization(c_opt, c_sched), "generator": Optimization(g_opt, g_sched)}

    def phase_steps(self, total_steps: int) -> tuple[int, int]:
        """How many of ``total_steps`` engine steps train the critic and the generator."""
        n = self.args.n_critic
        cycles, rest = divmod(total_steps, n + 1)
        critic = cycles * n + min(rest, n)
        return critic, total_steps - critic

    # -------------------------------------------------------------- data
    def prepare(self, ds: Dataset) -> Dataset:
        """``(x, y)`` -> ``(x (N, D) flattened, index (N,))``: the index keys the noise of each sample."""
        if not isinstance(ds, TensorDataset) or len(ds.tensors) != 2:
            raise DanluError("task gan needs a TensorDataset of (x (N, ...) samples, y (N,) mixture component)")
        x = ds.tensors[0]
        self._rows = max(self._rows, len(x))
        return TensorDataset(x.reshape(len(x), -1), torch.arange(len(x)))

    def setup(self, train: Dataset) -> None:
        """The mixture's component means (K, D) and pooled standard deviation, from the labelled samples."""
        x, y = train.tensors[0].reshape(len(train.tensors[0]), -1).float(), train.tensors[1]
        if y.is_floating_point() or len(y) == 0:
            raise DanluError("task gan measures mode coverage and needs integer component labels y (N,)")
        comps = torch.unique(y)
        self.centers = torch.stack([x[y == c].mean(0) for c in comps])  # (K, D)
        resid = x - self.centers[torch.searchsorted(comps, y)]  # (N, D)
        self.sigma = float(resid.pow(2).mean().sqrt())

    def noise(self, index: Tensor, ctx: Context, *, stream: int, epoch: int) -> Tensor:
        """z (B, latent_dim) for samples ``index`` (B,): the same for a sample, stream and epoch on every rank."""
        cached = self._noise.get(stream)
        need = self._rows or int(index.max()) + 1  # rows: the largest prepared split (no sync per step)
        if cached is None or cached[0] != (ctx.seed, epoch) or len(cached[1]) < need:
            blocks = -(-need // NOISE_BLOCK)
            table = torch.cat([torch.randn(NOISE_BLOCK, self.args.latent_dim, generator=torch.Generator().manual_seed(
                ((ctx.seed * 1_000_003 + stream) * 1_000_033 + epoch) * 4_099 + b)) for b in range(blocks)])
            self._noise[stream] = cached = ((ctx.seed, epoch), table.to(ctx.device))
        table = cached[1]
        return table[index] if table.device == index.device else table[index.to(table.device)]

    # -------------------------------------------------------------- steps
    def stat_names(self) -> list[str]:
        return ["d_loss", "g_loss"]

    def wrap(self, model: nn.Module, wrap: Callable[[nn.Module], nn.Module]) -> nn.Module:
        """Each network under its own DDP: a phase's backward then reduces only the network it trains."""
        self._critic_params = [p for p in model.critic.parameters() if p.requires_grad]
        return GAN(wrap(model.generator), wrap(model.critic))

    def next_phase(self) -> str:
        return "critic" if self.critic_steps < self.args.n_critic else "generator"

    def training_step(self, model: nn.Module, batch: Any, ctx: Context) -> StepOutput:
        x, index = batch  # (B, D), (B,)
        z = self.noise(index, ctx, stream=0, epoch=ctx.epoch)  # (B, latent)
        one, zero = self._constants(x.device)
        if ctx.phase == "critic":
            with torch.no_grad():
                fake = _unwrap(model.generator)(z)  # (B, D)
            if self.objective.penalised:
                return self._penalised_critic_step(model, x, fake, index, ctx)
            scores = model.critic(torch.cat([x, fake]))  # (2B, 1): one forward, so DDP reduces once
            loss = self.objective.critic_loss(scores[:len(x)], scores[len(x):])
            stats = torch.stack([loss.detach().float(), one, zero, zero])  # (d_loss, count, g_loss, count)
        else:
            fake = model.generator(z)  # (B, D)
            for p in self._critic_params:  # the graph needs the critic's input gradient, not its weights'
                p.requires_grad_(False)
            loss = self.objective.generator_loss(_unwrap(model.critic)(fake))
            for p in self._critic_params:
                p.requires_grad_(True)
            stats = torch.stack([zero, zero, loss.detach().float(), one])
        return StepOutput(loss, stats, fake.detach())

    def _penalised_critic_step(self, model: nn.Module, x: Tensor, fake: Tensor, index: Tensor,
                               ctx: Context) -> StepOutput:
        """WGAN-GP's critic step: real, fake and interpolates scored in one forward, plus the penalty."""
        from danlu.gan.penalty import interpolate, penalty_from_scores

        b = len(x)
        z = self.noise(index, ctx, stream=GP_STREAM, epoch=ctx.epoch)[:, 0]  # (B,) N(0, 1)
        eps = 0.5 * (1 + torch.erf(z / 2 ** 0.5))  # (B,) U[0, 1] through the normal CDF
        points = interpolate(x, fake, eps).requires_grad_(True)  # (B, D)
        scores = model.critic(torch.cat([x, fake, points]))  # (3B, 1)
        loss = self.objective.critic_loss(scores[:b], scores[b:2 * b])
        loss = loss + penalty_from_scores(scores[2 * b:].float(), points, self.args.gp_weight)
        one, zero = self._constants(x.device)
        return StepOutput(loss, torch.stack([loss.detach().float(), one, zero, zero]), fake)

    def _constants(self, device: torch.device) -> tuple[Tensor, Tensor]:
        if self._consts is None or self._consts[0].device != device:
            self._consts = (torch.ones((), device=device), torch.zeros((), device=device))
        return self._consts

    def on_step_end(self, ctx: Context) -> None:
        if ctx.phase == "generator":
            self.critic_steps = 0
            return
        self.critic_steps += 1
        if self.objective.clips_critic and not ctx.skipped:
            with torch.no_grad():
                for p in ctx.model.critic.parameters():
                    p.clamp_(-self.args.clip, self.args.clip)

    # -------------------------------------------------------------- evaluation and use
    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: Iterable[Any], ctx: Context) -> dict[str, float]:
        """Critic and generator losses, sample quality and covered modes (see the module docstring)."""
        if self.centers is None:
            raise DanluError("task gan: setup(train) must run before evaluate")
        was_training = model.training
        model.eval()
        centers = self.centers.to(ctx.device)
        k = len(centers)
        sums = torch.zeros(4 + k, device=ctx.device, dtype=torch.float64)  # d, g, n, good, per-mode counts
        for x, index in loader:
            x, index = x.to(ctx.device), index.to(ctx.device)
            z = self.noise(index, ctx, stream=EVAL_STREAMS.get(ctx.split, 3), epoch=0)  # fixed noise per split
            with ctx.autocast():
                fake = model.generator(z)  # (B, D)
                real_s, fake_s = model.critic(x), model.critic(fake)  # (B, 1)
            d = self.objective.critic_loss(real_s.float(), fake_s.float())
            g = self.objective.generator_loss(fake_s.float())
            dist, nearest = torch.cdist(fake.float(), centers).min(1)  # (B,), (B,)
            good = dist <= 3 * self.sigma
            counts = torch.bincount(nearest[good], minlength=k)  # (K,)
            sums += torch.cat([torch.stack([d * len(x), g * len(x)]).double(),
                               torch.tensor([len(x), int(good.sum())], device=ctx.device, dtype=torch.float64),
                               counts.double()])
        model.train(was_training)
        ctx.all_reduce_sum(sums)
        n = float(sums[2].clamp(min=1))
        return {"d_loss": float(sums[0]) / n, "g_loss": float(sums[1]) / n, "quality": float(sums[3]) / n,
                "modes": float((sums[4:] >= MODE_SHARE * n / k).sum())}

    def predict(self, model: nn.Module, batch: Any) -> Tensor:
        """Samples (B, D) for noise ``batch`` = z (B, latent_dim) or ``(z,)``."""
        z = batch[0] if isinstance(batch, (tuple, list)) else batch
        return model.generator(z)

    # -------------------------------------------------------------- checkpointed state
    def state_dict(self) -> dict[str, Any]:
        return {"critic_steps": self.critic_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.critic_steps = int(state["critic_steps"])
