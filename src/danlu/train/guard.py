"""The NaN/inf guard's check: is a step's loss, and every gradient element, finite?

One fused kernel per device and dtype, ``torch._amp_foreach_non_finite_check_and_unscale_`` (the
one the GradScaler uses for fp16) with a scale of 1, which leaves the values unchanged, and one
host sync: about a fifth of the cost of a global gradient norm on small models. Without that
kernel (an older torch) it falls back to the global norm, where an overflow to inf also counts.
"""

from __future__ import annotations

import torch


class FiniteCheck:
    """``check(loss) -> bool``: True when ``loss`` and the gradients of ``params`` hold no NaN/inf.

    Args:
        params: the parameters whose ``.grad`` is checked (those without a gradient are skipped).
    """

    def __init__(self, params: list[torch.Tensor]) -> None:
        groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
        for p in params:
            groups.setdefault((p.device, p.dtype), []).append(p)
        self.groups = list(groups.items())
        self.found = {d: torch.zeros(1, device=d) for (d, _) in groups}
        self.one = {d: torch.ones(1, device=d) for (d, _) in groups}
        self.fused = getattr(torch, "_amp_foreach_non_finite_check_and_unscale_", None)

    def __call__(self, loss: torch.Tensor) -> bool:
        if self.fused is None:  # an older torch: the global gradient norm (an overflow to inf also counts)
            grads = [p.grad for _, ps in self.groups for p in ps if p.grad is not None]
            return bool(torch.isfinite(loss) & torch.isfinite(torch.nn.utils.get_total_norm(grads)))
        loss_checked = False
        for found in self.found.values():
            found.zero_()
        for (device, dtype), params in self.groups:
            grads = [p.grad for p in params if p.grad is not None]
            if not loss_checked and loss.device == device and loss.dtype == dtype:
                grads.append(loss.detach().view(1))  # multiplied by 1 in place: unchanged
                loss_checked = True
            if grads:
                self.fused(grads, self.found[device], self.one[device])
        grads_ok = not any(bool(f) for f in self.found.values())  # one sync per device
        return grads_ok and (loss_checked or bool(torch.isfinite(loss)))


__all__ = ["FiniteCheck"]
