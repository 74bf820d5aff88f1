"""qparams and observers against torch.ao.quantization's observers (same formula, same numbers)."""

from __future__ import annotations

import pytest
import torch
from torch.ao.quantization import observer as tob

from danlu.errors import DanluError
from danlu.quant.observers import make_observer
from danlu.quant.qparams import QScheme, activation_scheme, qparams_from_range, weight_scheme


def test_int_ranges() -> None:
    assert (activation_scheme(8).qmin, activation_scheme(8).qmax) == (0, 255)
    assert (weight_scheme(8).qmin, weight_scheme(8).qmax) == (-127, 127)
    assert (weight_scheme(4).qmin, weight_scheme(4).qmax) == (-7, 7)
    assert (QScheme(bits=8, signed=True).qmin, QScheme(bits=4, signed=True).qmin) == (-128, -8)


@pytest.mark.parametrize("lo,hi", [(-1.3, 2.7), (0.2, 5.0), (-4.0, -0.5), (0.0, 0.0)])
def test_affine_uint8_equals_torch_minmax_observer(lo: float, hi: float) -> None:
    ref = tob.MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    ref(torch.tensor([lo, hi]))
    s_ref, z_ref = ref.calculate_qparams()
    s, z = qparams_from_range(torch.tensor(lo), torch.tensor(hi), activation_scheme(8))
    assert torch.equal(s.reshape(1), s_ref) and torch.equal(z.reshape(1), z_ref.long())


def test_symmetric_per_channel_equals_torch() -> None:
    torch.manual_seed(0)
    w = torch.randn(6, 3, 3, 3) * torch.rand(6, 1, 1, 1)
    ref = tob.PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric,
                                       quant_min=-127, quant_max=127)
    ref(w)
    s_ref, z_ref = ref.calculate_qparams()
    obs = make_observer("minmax", weight_scheme(8))
    obs(w)
    s, z = obs.calculate_qparams()
    assert torch.equal(s, s_ref) and torch.equal(z, z_ref.long())


def test_ema_equals_torch_moving_average() -> None:
    torch.manual_seed(1)
    ref = tob.MovingAverageMinMaxObserver(averaging_constant=0.1, dtype=torch.quint8)
    obs = make_observer("ema", activation_scheme(8), averaging_constant=0.1)
    for i in range(5):
        x = torch.randn(100) * (i + 1)
        ref(x)
        obs(x)
    assert torch.allclose(obs.min_val, ref.min_val) and torch.allclose(obs.max_val, ref.max_val)
    assert torch.allclose(obs.calculate_qparams()[0].reshape(1), ref.calculate_qparams()[0])


def test_percentile_equals_numpy() -> None:
    np = pytest.importorskip("numpy")
    x = torch.randn(5000)
    obs = make_observer("percentile", activation_scheme(8), percentile=1.0)
    obs(x)
    lo, hi = np.percentile(x.numpy(), [1.0, 99.0])
    assert obs.min_val.item() == pytest.approx(lo, abs=1e-5) and obs.max_val.item() == pytest.approx(hi, abs=1e-5)
    assert obs.max_val < x.max()  # the outliers are ignored


def test_current_observer_tracks_latest() -> None:
    obs = make_observer("current", activation_scheme(8))
    obs(torch.tensor([-5.0, 5.0]))
    obs(torch.tensor([-1.0, 1.0]))
    assert (obs.min_val.item(), obs.max_val.item()) == (-1.0, 1.0)


def test_bad_ranges_refused() -> None:
    with pytest.raises(DanluError, match="finite"):
        qparams_from_range(torch.tensor(float("nan")), torch.tensor(1.0), activation_scheme(8))
    with pytest.raises(DanluError, match="finite"):
        make_observer("minmax", activation_scheme(8))(torch.tensor([0.0, float("inf")]))
    with pytest.raises(DanluError, match="no data"):
        make_observer("ema", activation_scheme(8)).calculate_qparams()
    with pytest.raises(DanluError, match="bits"):
        QScheme(bits=1)


@pytest.mark.parametrize("dtype,qscheme,scheme", [
    (torch.quint8, torch.per_tensor_symmetric, QScheme(bits=8, signed=False, symmetric=True)),   # zp 128
    (torch.qint8, torch.per_tensor_affine, QScheme(bits=8, signed=True)),
    (torch.qint8, torch.per_tensor_affine, QScheme(bits=4, signed=True)),                       # int4 [-8, 7]
    (torch.qint8, torch.per_tensor_symmetric, QScheme(bits=4, signed=True, symmetric=True, narrow=True)),
])
def test_other_schemes_equal_torch(dtype: torch.dtype, qscheme: torch.qscheme, scheme: QScheme) -> None:
    x = torch.tensor([-0.7, 0.1, 2.3])
    kw = {} if (scheme.bits == 8 and not scheme.narrow) else {"quant_min": scheme.qmin, "quant_max": scheme.qmax}
    ref = tob.MinMaxObserver(dtype=dtype, qscheme=qscheme, **kw)
    ref(x)
    s_ref, z_ref = ref.calculate_qparams()
    s, z = qparams_from_range(x.min(), x.max(), scheme)
    assert torch.equal(s.reshape(1), s_ref) and torch.equal(z.reshape(1), z_ref.long())
