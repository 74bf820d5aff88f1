"""Input checks and the shared pre/post steps of every selective-scan backend.

The semantics are those of mamba_ssm's ``selective_scan_fn`` / ``selective_scan_ref`` (Gu & Dao,
"Mamba: Linear-Time Sequence Modeling with Selective State Spaces", arXiv:2312.00752):

* ``u``, ``delta``, ``z``: (B, D, L);  ``A``: (D, N), real;  ``D``, ``delta_bias``: (D,);
* ``B`` and ``C`` each either time-invariant (D, N), per-time (B, N, L), or per-time and per-group
  (B, G, N, L) with ``D % G == 0`` (channel d uses group ``d // (D // G)``).

:func:`prepare` checks all of that (one :class:`~danlu.errors.DanluError` naming both tensors on a
mismatch), adds ``delta_bias``, applies softplus, and upcasts to the compute dtype (float64 stays
float64, everything else runs in float32, like the reference). :func:`finish` adds the ``D`` skip,
the ``z`` gate and casts back to ``u``'s dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from danlu.errors import DanluError

FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@dataclass
class ScanInputs:
    """Checked, upcast inputs. ``B``/``C`` are (D, N) (time-invariant) or (B, G, N, L) (per time)."""

    u: torch.Tensor          # (B, D, L) compute dtype
    delta: torch.Tensor      # (B, D, L) compute dtype, bias and softplus applied
    A: torch.Tensor          # (D, N)
    B: torch.Tensor          # (D, N) or (B, G, N, L)
    C: torch.Tensor          # (D, N) or (B, G, N, L)
    out_dtype: torch.dtype

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(batch, channels D, length L, state size N)."""
        b, d, L = self.u.shape
        return b, d, L, self.A.shape[1]


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; float16/bfloat16/float32 compute in float32 (as selective_scan_ref)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _tensor(name: str, t: object, where: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise DanluError(f"{where}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if t.is_complex():
        raise DanluError(f"{where}: {name} is complex ({t.dtype}); danlu's selective scan supports real "
                         "tensors only (complex A as in S4D-Lin is unsupported here: use danlu.ssm.s4d)")
    if t.dtype not in FLOATS:
        raise DanluError(f"{where}: {name} must be a floating tensor (float16/bfloat16/float32/float64), "
                         f"got {t.dtype}")
    return t


def _check_bc(name: str, t: torch.Tensor, u: torch.Tensor, A: torch.Tensor, where: str) -> None:
    b, d, L = u.shape
    n = A.shape[1]
    if t.dim() == 2:
        if tuple(t.shape) != (d, n):
            raise DanluError(f"{where}: time-invariant {name} must be (D, N) = {(d, n)} to match u "
                             f"{tuple(u.shape)} and A {tuple(A.shape)}, got {name} {tuple(t.shape)}")
    elif t.dim() in (3, 4):
        g = 1 if t.dim() == 3 else t.shape[1]
        want = (b, n, L) if t.dim() == 3 else (b, g, n, L)
        if tuple(t.shape) != want or g < 1 or d % g:
            raise DanluError(f"{where}: per-time {name} must be (B, N, L) or (B, G, N, L) with D % G == 0, "
                             f"matching u {tuple(u.shape)} and A {tuple(A.shape)}; got {name} {tuple(t.shape)}")
    else:
        raise DanluError(f"{where}: {name} must be (D, N), (B, N, L) or (B, G, N, L), got shape {tuple(t.shape)}")


def check(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
          D: torch.Tensor | None, z: torch.Tensor | None, delta_bias: torch.Tensor | None,
          where: str = "selective_scan") -> None:
    """Raise :class:`DanluError` naming the offending tensors if the shapes/dtypes/devices disagree."""
    named = {"u": u, "delta": delta, "A": A, "B": B, "C": C, "D": D, "z": z, "delta_bias": delta_bias}
    for name, t in named.items():
        if t is not None:
            _tensor(name, t, where)
    if u.dim() != 3:
        raise DanluError(f"{where}: u must be (B, D, L), got shape {tuple(u.shape)}")
    if u.shape[2] < 1:
        raise DanluError(f"{where}: u has L = 0 time steps; expected at least 1")
    if delta.shape != u.shape:
        raise DanluError(f"{where}: delta {tuple(delta.shape)} must have u's shape {tuple(u.shape)} (B, D, L)")
    if z is not None and z.shape != u.shape:
        raise DanluError(f"{where}: z {tuple(z.shape)} must have u's shape {tuple(u.shape)} (B, D, L)")
    if A.dim() != 2 or A.shape[0] != u.shape[1]:
        raise DanluError(f"{where}: A must be (D, N) with D = u.shape[1]; got A {tuple(A.shape)}, "
                         f"u {tuple(u.shape)}")
    for name, t in (("D", D), ("delta_bias", delta_bias)):
        if t is not None and tuple(t.shape) != (u.shape[1],):
            raise DanluError(f"{where}: {name} must be (D,) = ({u.shape[1]},) to match u {tuple(u.shape)}, "
                             f"got {tuple(t.shape)}")
    _check_bc("B", B, u, A, where)
    _check_bc("C", C, u, A, where)
    devices = {name: t.device for name, t in named.items() if t is not None}
    if len(set(devices.values())) > 1:
        raise DanluError(f"{where}: all tensors must be on one device, got "
                         + ", ".join(f"{k} {v}" for k, v in devices.items()))


def prepare(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
            delta_bias: torch.Tensor | None, delta_softplus: bool) -> ScanInputs:
    """Upcast, add ``delta_bias`` (per channel) and apply softplus; B (B, N, L) becomes (B, 1, N, L)."""
    dt = compute_dtype(u.dtype)
    delta = delta.to(dt)
    if delta_bias is not None:
        delta = delta + delta_bias.to(dt)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    B = B.to(dt) if B.dim() != 3 else B.to(dt).unsqueeze(1)
    C = C.to(dt) if C.dim() != 3 else C.to(dt).unsqueeze(1)
    return ScanInputs(u.to(dt), delta, A.to(dt), B, C, u.dtype)


def finish(y: torch.Tensor, s: ScanInputs, D: torch.Tensor | None, z: torch.Tensor | None) -> torch.Tensor:
    """``(y + D u) * silu(z)``, cast back to the input dtype. y: (B, D, L) compute dtype."""
    if D is not None:
        y = y + s.u * D.to(y.dtype)[:, None]
    if z is not None:
        y = y * F.silu(z.to(y.dtype))
    return y.to(s.out_dtype)


def channel_mul(v: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``v * g`` for v (..., D, N) and a group tensor g (..., G, N) (channel d uses g[..., d // (D/G), :]).

    A time-invariant g of shape (D, N) simply broadcasts.
    """
    if g.shape[-2] == v.shape[-2] or g.dim() == 2:
        return v * g
    grp = g.shape[-2]
    return (v.unflatten(-2, (grp, v.shape[-2] // grp)) * g.unsqueeze(-2)).flatten(-3, -2)
