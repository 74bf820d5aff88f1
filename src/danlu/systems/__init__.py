"""The machine as a deep-learning user sees it: measured FLOP/s, bandwidth and the roofline."""

from danlu.systems.hardware import (
    HardwareReport,
    KernelPoint,
    machine_report,
    measure_bandwidth,
    measure_elementwise,
    measure_matmul,
    roofline,
)

__all__ = ["HardwareReport", "KernelPoint", "machine_report", "measure_bandwidth", "measure_elementwise",
           "measure_matmul", "roofline"]
