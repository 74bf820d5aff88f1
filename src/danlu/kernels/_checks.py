"""Input checks shared by the attention kernels: one clear error naming both shapes.

Every public kernel calls :func:`check_qkv` first, so a mismatch is reported as a
:class:`~danlu.errors.DanluError` that names the offending tensors and their shapes instead
of a matmul error deep inside a backend.
"""

from __future__ import annotations

import torch

from danlu.errors import DanluError

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, same_qk_dim: bool = True,
              where: str = "attention", allow_gqa: bool = False) -> None:
    """Check q (B, H, Nq, Dk), k (B, H, Nk, Dk), v (B, H, Nk, Dv): 4-D, same float dtype and device.

    Args:
        same_qk_dim: require q and k to share the last dimension (always true for dot products).
        where: the function name used in the message.
        allow_gqa: accept k, v with ``Hkv`` heads where ``Hkv`` divides q's ``H`` (grouped-query /
            multi-query attention); k and v must still share (B, Hkv).

    Raises:
        DanluError: naming both shapes (or dtypes/devices) that disagree.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise DanluError(f"{where}: {name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 4:
            raise DanluError(f"{where}: {name} must be 4-D (B, H, N, D), got shape {tuple(t.shape)}")
        if t.dtype not in FLOAT_DTYPES:
            raise DanluError(f"{where}: {name} must be a floating tensor (float16/bfloat16/float32/float64), "
                             f"got {t.dtype}")
    if q.dtype != k.dtype or q.dtype != v.dtype:
        raise DanluError(f"{where}: q, k, v must share a dtype, got q {q.dtype}, k {k.dtype}, v {v.dtype}")
    if q.device != k.device or q.device != v.device:
        raise DanluError(f"{where}: q, k, v must be on one device, got q {q.device}, k {k.device}, v {v.device}")
    if allow_gqa and k.shape[:2] == v.shape[:2] and q.shape[0] == k.shape[0] and k.shape[1] >= 1:
        if q.shape[1] % k.shape[1] != 0:
            raise DanluError(f"{where}: k/v heads Hkv = {k.shape[1]} must divide q heads H = {q.shape[1]} "
                             f"(grouped-query attention): q {tuple(q.shape)}, k {tuple(k.shape)}")
    elif q.shape[:2] != k.shape[:2] or k.shape[:2] != v.shape[:2]:
        raise DanluError(f"{where}: batch and head dims (B, H) must match: q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    if same_qk_dim and q.shape[-1] != k.shape[-1]:
        raise DanluError(f"{where}: q and k must share the head dim D: q {tuple(q.shape)} vs k {tuple(k.shape)}")
    if k.shape[2] != v.shape[2]:
        raise DanluError(f"{where}: k and v must have the same number of tokens Nk: "
                         f"k {tuple(k.shape)} vs v {tuple(v.shape)}")


def check_mask(mask: torch.Tensor | None, q: torch.Tensor, k: torch.Tensor, *, where: str = "attention") -> None:
    """Check a boolean keep-mask broadcastable to (B, H, Nq, Nk) (True = attend)."""
    if mask is None:
        return
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise DanluError(f"{where}: mask must be a bool tensor (True = attend), got {got}")
    target = (q.shape[0], q.shape[1], q.shape[2], k.shape[2])
    try:
        ok = mask.dim() <= 4 and torch.broadcast_shapes(mask.shape, target) == torch.Size(target)
    except RuntimeError:
        ok = False
    if not ok:
        raise DanluError(f"{where}: mask of shape {tuple(mask.shape)} does not broadcast to the scores "
                         f"(B, H, Nq, Nk) = {target} of q {tuple(q.shape)} and k {tuple(k.shape)}")
