"""From-scratch GRU and LSTM cells: a **teaching reference only**, equal to torch's with copied weights.

Use ``torch.nn.GRU`` / ``torch.nn.LSTM`` (what :mod:`danlu.seq.rnn` and :mod:`danlu.seq.encdec`
use) for anything but reading the equations. Weight layout and gate order are torch's, so a
cell loads a torch layer's ``weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0`` directly.

GRU (Cho et al., arXiv:1406.1078), torch's gate order r, z, n::

    r = σ(W_ir x + b_ir + W_hr h + b_hr)
    z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    h' = (1 - z) ⊙ n + z ⊙ h

LSTM (Hochreiter & Schmidhuber 1997), gate order i, f, g, o::

    i, f, o = σ(·), g = tanh(·) of W_i* x + b_i* + W_h* h + b_h*
    c' = f ⊙ c + i ⊙ g;   h' = o ⊙ tanh(c')
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class _ScratchCell(nn.Module):
    gates = 1

    def __init__(self, input_size: int, hidden: int) -> None:
        super().__init__()
        self.input_size, self.hidden = input_size, hidden
        g = self.gates * hidden
        self.weight_ih = nn.Parameter(torch.empty(g, input_size))
        self.weight_hh = nn.Parameter(torch.empty(g, hidden))
        self.bias_ih = nn.Parameter(torch.empty(g))
        self.bias_hh = nn.Parameter(torch.empty(g))
        for p in self.parameters():  # torch's init: U(-1/sqrt(H), 1/sqrt(H))
            nn.init.uniform_(p, -hidden ** -0.5, hidden ** -0.5)

    @torch.no_grad()
    def load_from(self, layer: nn.RNNBase, suffix: str = "_l0") -> _ScratchCell:
        """Copy a torch layer's weights (``weight_ih{suffix}`` ...); returns self."""
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(self, name).copy_(getattr(layer, name + suffix))
        return self


class ScratchGRUCell(_ScratchCell):
    """One GRU step: x (B, I), h (B, H) -> h' (B, H)."""

    gates = 3

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        xr, xz, xn = (x @ self.weight_ih.T + self.bias_ih).chunk(3, -1)
        hr, hz, hn = (h @ self.weight_hh.T + self.bias_hh).chunk(3, -1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return (1 - z) * n + z * h


class ScratchLSTMCell(_ScratchCell):
    """One LSTM step: x (B, I), (h, c) (B, H) each -> (h', c')."""

    gates = 4

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        h, c = state
        i, f, g, o = (x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh).chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


def unroll(cell: _ScratchCell, x: Tensor, state):
    """Run ``cell`` over x (B, T, I) from ``state``; -> (outputs (B, T, H), final state)."""
    outs = []
    for t in range(x.shape[1]):
        state = cell(x[:, t], state)
        outs.append(state[0] if isinstance(state, tuple) else state)
    return torch.stack(outs, 1), state
