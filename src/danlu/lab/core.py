"""What a lab card is: metadata, the context it runs in, and the result it returns.

A card is a function ``fn(ctx: CardContext) -> CardResult`` registered with :func:`card`.
It measures one claim from the catalogue, computes its verdict from its own numbers, and
hands figures to ``ctx.figure``. It never hard-codes the verdict.

Example (see ``danlu/lab/cards/tricks_relu.py`` for a real one)::

    from danlu.lab import CardContext, CardResult, card

    @card(id="demo", title="Demo", claim="2 + 2 = 4", source="none", area="demo",
          quick={"n": 10}, full={"n": 1000})
    def demo(ctx: CardContext) -> CardResult:
        total = sum(2 for _ in range(ctx.budget["n"])) / ctx.budget["n"] * 2
        return CardResult(table=[{"value": total}], held=total == 4,
                          reason=f"measured {total}")
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from danlu.errors import DanluError
from danlu.registry import Registry

#: Verdict strings, in report order. ``held``/``not held`` answer the claim; ``inconclusive``
#: is for a card whose numbers cannot decide at this budget; ``error`` is set by the runner.
VERDICTS = ("held", "not held", "inconclusive", "error")


@dataclass(frozen=True)
class CardInfo:
    """Metadata of a registered card.

    Attributes:
        id: catalogue id, e.g. ``"tr-relu"``.
        title: short human title.
        claim: the claim measured, one sentence.
        source: the note (and section) the claim comes from.
        area: package area (``tricks``, ``attention``, ``systems``, ...).
        quick: budget parameters for the quick (CPU, seconds) run.
        full: budget parameters for the full run (merged over ``quick``).
        slow: the quick run takes more than a few seconds on 2 CPU cores (tests mark it slow).
        fn: the card function.
        rule: the card's verdict rule, a pure function of its numbers returning ``True`` (held),
            ``False`` (not held) or ``None`` (inconclusive). Its docstring is the pre-registered
            criterion the report shows; ``tests/lab/rule_cases/`` feeds it inputs both ways.
    """

    id: str
    title: str
    claim: str
    source: str
    area: str
    quick: Mapping[str, Any]
    full: Mapping[str, Any]
    slow: bool
    fn: Callable[[CardContext], CardResult]
    rule: Callable[..., bool | None] | None = None

    @property
    def criterion(self) -> str:
        """The rule in words: the rule function's docstring (empty if the card has no rule)."""
        import inspect

        return inspect.cleandoc(self.rule.__doc__ or "") if self.rule is not None else ""

    def budget(self, mode: str) -> dict[str, Any]:
        """The budget dict for ``mode`` (``"quick"`` or ``"full"``)."""
        if mode == "quick":
            return dict(self.quick)
        if mode == "full":
            return {**self.quick, **self.full}
        raise DanluError(f"unknown lab mode {mode!r}; valid: quick, full")


@dataclass
class CardContext:
    """What a card gets to run with.

    Attributes:
        device: the torch device to measure on.
        seed: the seed (already applied to python/numpy/torch by the runner).
        mode: ``"quick"`` or ``"full"``.
        budget: the budget parameters for this mode.
        figure_dir: where figures are written.
        card_id: the card's id (used to name figure files).
    """

    device: torch.device
    seed: int
    mode: str
    budget: dict[str, Any]
    figure_dir: pathlib.Path
    card_id: str
    figures: list[str] = field(default_factory=list)
    captions: dict[str, str] = field(default_factory=dict)

    def figure(self, name: str, fig: Any, *, caption: str = "") -> pathlib.Path:
        """Save a matplotlib figure as ``<figure_dir>/<card_id>-<name>.png`` and close it."""
        from danlu.plotting import pyplot

        self.figure_dir.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        path = self.figure_dir / f"{self.card_id}-{safe}.png"
        fig.tight_layout()
        fig.savefig(path)
        pyplot().close(fig)
        self.figures.append(path.name)
        if caption:
            self.captions[path.name] = caption
        return path


@dataclass
class CardResult:
    """What a card returns.

    Attributes:
        table: rows of numbers (each a dict column -> value) shown as the card's numbers table.
        held: ``True`` if the claim held, ``False`` if not, ``None`` if inconclusive.
        reason: one or two sentences: the comparison made and what was seen, with numbers.
        notes: optional longer text (caveats, what the budget limits).
        extra: any JSON-serialisable extra data for results.json (curves, per-step values).
        effects: the effects the verdict was decided on, by name, each an
            :class:`danlu.lab.evidence.Estimate` (mean and interval) with the report's text for it
            (``effects={"accuracy gain": (est, "+4.1 ± 1.2 points (95% CI, 5 seeds)")}``) or a bare
            Estimate (described with :meth:`Estimate.describe`). The FIRST effect is the main one:
            the report's summary table shows it, so list preconditions after the claim's effect.
    """

    table: list[dict[str, Any]]
    held: bool | None
    reason: str
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    effects: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return {True: "held", False: "not held", None: "inconclusive"}[self.held]

    def validate(self, card_id: str) -> None:
        """Raise if the result is malformed (so a broken card fails loudly, not silently)."""
        if not isinstance(self.table, list) or not self.table or not all(isinstance(r, dict) for r in self.table):
            raise DanluError(f"card {card_id!r} returned an empty or malformed table")
        if self.held not in (True, False, None):
            raise DanluError(f"card {card_id!r} returned held={self.held!r}; expected True, False or None")
        if not self.reason:
            raise DanluError(f"card {card_id!r} returned no reason for its verdict")

    def effects_json(self) -> dict[str, dict[str, Any]]:
        """``effects`` as JSON: ``{name: {"mean", "lo", "hi", "n", ..., "text"}}``."""
        from danlu.lab.evidence import Estimate

        out: dict[str, dict[str, Any]] = {}
        for name, v in self.effects.items():
            est, text = (v, None) if isinstance(v, Estimate) else v
            if not isinstance(est, Estimate):
                raise DanluError(f"effect {name!r} must be an Estimate or (Estimate, text), got {type(est).__name__}")
            out[name] = {**est.to_json(), "text": text or est.describe()}
        return out

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["effects"] = self.effects_json()
        d["verdict"] = self.verdict
        return d


CARDS: Registry[CardInfo] = Registry("card", loader="danlu.lab.cards:load_all")


def card(
    *,
    id: str,
    title: str,
    claim: str,
    source: str,
    area: str,
    quick: Mapping[str, Any] | None = None,
    full: Mapping[str, Any] | None = None,
    slow: bool = False,
    rule: Callable[..., bool | None] | None = None,
) -> Callable[[Callable[[CardContext], CardResult]], Callable[[CardContext], CardResult]]:
    """Register a lab card. See the module docstring for an example.

    ``rule`` is the card's verdict rule (see :class:`CardInfo`); the card calls it on its numbers
    to get ``held``, and the report prints its docstring as the pre-registered criterion.
    """

    def deco(fn: Callable[[CardContext], CardResult]) -> Callable[[CardContext], CardResult]:
        CARDS.add(id, CardInfo(id=id, title=title, claim=claim, source=source, area=area,
                               quick=dict(quick or {}), full=dict(full or {}), slow=slow, fn=fn,
                               rule=rule))
        return fn

    return deco
