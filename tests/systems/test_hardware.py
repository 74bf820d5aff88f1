"""Hardware measurements: FLOP and byte accounting against closed forms; roofline formula."""

from __future__ import annotations

import pytest

from danlu.systems.hardware import machine_report, measure_elementwise, measure_matmul, roofline
from danlu.systems.peaks import cpu_nominal_peak, gpu_peak


def test_matmul_accounting_closed_form():
    p = measure_matmul(64, min_time=0.01)
    assert p.flops == 2 * 64**3 and p.bytes == 3 * 64 * 64 * 4
    assert p.intensity == pytest.approx(2 * 64 / 12)
    assert p.seconds > 0 and p.flops_per_s == p.flops / p.seconds


def test_elementwise_accounting():
    p = measure_elementwise(nbytes=4 * 2**20, min_time=0.01)
    n = 2**20
    assert p.flops == n and p.bytes == 12 * n and p.intensity == pytest.approx(1 / 12)


def test_roofline_is_min_of_ceilings():
    assert roofline(0.5, 100.0, 10.0) == 5.0
    assert roofline(50.0, 100.0, 10.0) == 100.0
    assert roofline(10.0, 100.0, 10.0) == 100.0


def test_report_shape():
    rep = machine_report("cpu", sizes=[16, 32], min_time=0.01, nbytes=2**20)
    assert [p.name for p in rep.matmul] == ["matmul n=16", "matmul n=32"]
    assert rep.peak_flops_measured == max(p.flops_per_s for p in rep.matmul)
    j = rep.to_json()
    assert j["copy_GBps"] > 0 and len(j["matmul"]) == 2


def test_peaks_lookup():
    assert gpu_peak("NVIDIA H100 80GB HBM3").name == "NVIDIA H100 SXM"
    assert gpu_peak("NVIDIA H100 PCIe").name == "NVIDIA H100 PCIe"
    assert gpu_peak("NVIDIA H200").bandwidth == 4.8e12
    assert gpu_peak("Some Unknown GPU") is None
    cpu = cpu_nominal_peak(2)
    assert cpu is None or cpu.flops["float32"] > 1e9
