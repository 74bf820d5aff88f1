"""Rule cases for the data, metrics, systems and RL cards (data-fc, data-tfrecord, met-map, met-seg,
sys-hw, sys-ddp, rl-dp, rl-grid, rl-mc, rl-sa), written from each rule's docstring."""

from __future__ import annotations

import math

from danlu.lab.evidence import Estimate

E = Estimate.of

CASES = {
    "rl-grid": [
        ({"max_gap": 8.7e-10}, True),                 # stops at tol 1e-10: error <= 9e-10
        ({"max_gap": 2e-8}, False),                   # the two solutions disagree
        ({"max_gap": 1e-8}, False),                   # the margin itself is not "below"
    ],
    "rl-dp": [
        ({"worst_gap": 8.6e-10}, True),
        ({"worst_gap": 0.1}, False),                  # a greedy policy one reward step off
        ({"worst_gap": 1e-7}, False),
    ],
    "rl-sa": [
        # the book's picture: 1/k converges, 1/k^2 stalls, with and without noise; incremental == sample mean
        ({"err_1k": 7e-4, "err_1k2": 0.6, "noisy_1k": E(0.004, 0.002), "noisy_1k2": E(0.5, 0.26),
          "mean_gap": 2e-14, "mean_sigmas": 0.3}, True),
        # 1/k^2 reaching the root would break the claim
        ({"err_1k": 7e-4, "err_1k2": 0.05, "noisy_1k": E(0.004, 0.002), "noisy_1k2": E(0.5, 0.26),
          "mean_gap": 2e-14, "mean_sigmas": 0.3}, False),
        # noisy 1/k not converging
        ({"err_1k": 7e-4, "err_1k2": 0.6, "noisy_1k": E(0.2, 0.05), "noisy_1k2": E(0.5, 0.26),
          "mean_gap": 2e-14, "mean_sigmas": 0.3}, False),
        # incremental mean off the sample mean
        ({"err_1k": 7e-4, "err_1k2": 0.6, "noisy_1k": E(0.004, 0.002), "noisy_1k2": E(0.5, 0.26),
          "mean_gap": 1e-3, "mean_sigmas": 0.3}, False),
        # the noisy 1/k^2 interval straddles 0.1: inconclusive
        ({"err_1k": 7e-4, "err_1k2": 0.6, "noisy_1k": E(0.004, 0.002), "noisy_1k2": E(0.3, 0.25),
          "mean_gap": 2e-14, "mean_sigmas": 0.3}, None),
    ],
    "rl-mc": [
        ({"basic_long": 1.0, "basic_short": 0.24, "es_optimal": E(0.99, 0.02), "eg_gap": E(0.1, 0.05)}, True),
        # MC ES clearly short of the optimal policy (the audit's "gap 1, still held")
        ({"basic_long": 1.0, "basic_short": 0.24, "es_optimal": E(0.7, 0.1), "eg_gap": E(0.1, 0.05)}, False),
        # MC Basic with short episodes already optimal: the episode-length claim fails
        ({"basic_long": 1.0, "basic_short": 1.0, "es_optimal": E(0.99, 0.02), "eg_gap": E(0.1, 0.05)}, False),
        # MC eps-greedy far from the best eps-greedy policy
        ({"basic_long": 1.0, "basic_short": 0.24, "es_optimal": E(0.99, 0.02), "eg_gap": E(0.5, 0.1)}, False),
        # MC ES interval straddles 0.95
        ({"basic_long": 1.0, "basic_short": 0.24, "es_optimal": E(0.87, 0.15), "eg_gap": E(0.1, 0.05)}, None),
    ],
    "met-seg": [
        # PA 0.97 for the failure, MIoU gap 0.43, PA gap 0.02: PA calls it good, MIoU exposes it
        ({"fail_pa": E(0.95, 0.001), "miou_gap": E(0.43, 0.002), "pa_gap": E(0.018, 0.001)}, True),
        # a scene that is not background-heavy: PA of the failure is low, the premise fails
        ({"fail_pa": E(0.6, 0.01), "miou_gap": E(0.43, 0.01), "pa_gap": E(0.3, 0.01)}, False),
        # MIoU does not separate the two
        ({"fail_pa": E(0.95, 0.001), "miou_gap": E(0.05, 0.01), "pa_gap": E(0.018, 0.001)}, False),
        # PA separates them as well (then PA exposes the failure too)
        ({"fail_pa": E(0.95, 0.001), "miou_gap": E(0.43, 0.01), "pa_gap": E(0.1, 0.01)}, False),
        # the quick budget's MIoU gap straddles 0.2
        ({"fail_pa": E(0.967, 0.002), "miou_gap": E(0.207, 0.013), "pa_gap": E(-0.014, 0.001)}, None),
    ],
    "met-map": [
        ({"min_gap": 0.011, "parity": 0.0}, True),
        ({"min_gap": 0.011, "parity": 3e-12}, False),      # off the reference
        ({"min_gap": 0.0, "parity": 0.0}, False),          # 11-point and all-point gave the same number
        ({"min_gap": 0.011, "parity": None}, None),        # pycocotools absent: never held
        ({"min_gap": 0.0, "parity": None}, False),
    ],
    "data-tfrecord": [
        # all checks pass and danlu is ~4x the package (log 4 = 1.39)
        ({"exact": True, "detected": 5, "injected": 5, "identical": True, "speedup": E(1.39, 0.3)}, True),
        ({"exact": False, "detected": 5, "injected": 5, "identical": True, "speedup": E(1.39, 0.3)}, False),
        ({"exact": True, "detected": 4, "injected": 5, "identical": True, "speedup": E(1.39, 0.3)}, False),
        ({"exact": True, "detected": 5, "injected": 5, "identical": False, "speedup": E(1.39, 0.3)}, False),
        # slower than the package (0.5x)
        ({"exact": True, "detected": 5, "injected": 5, "identical": True, "speedup": E(-0.69, 0.2)}, False),
        # speed-up interval straddles 1x
        ({"exact": True, "detected": 5, "injected": 5, "identical": True, "speedup": E(0.05, 0.2)}, None),
        # the tfrecord package absent: never held, but danlu's own failures still show
        ({"exact": True, "detected": 5, "injected": 5, "identical": None, "speedup": None}, None),
        ({"exact": True, "detected": 3, "injected": 5, "identical": None, "speedup": None}, False),
    ],
    "data-fc": [
        # gain +2.5 ± 0.6 points (as a fraction of accuracy), a baseline that learned (0.85 vs majority 0.55)
        ({"gain": E(0.025, 0.006), "deep_acc": 0.85, "base_rate": 0.55}, True),
        # the wide part adds nothing
        ({"gain": E(0.0, 0.004), "deep_acc": 0.85, "base_rate": 0.55}, False),
        # +1.4 ± 1.1 points: straddles the 1-point margin
        ({"gain": E(0.014, 0.011), "deep_acc": 0.85, "base_rate": 0.55}, None),
        # a deep baseline stuck at the majority class measures nothing, however large the gain
        ({"gain": E(0.3, 0.01), "deep_acc": 0.56, "base_rate": 0.55}, None),
    ],
    "sys-ddp": [
        ({"drift": 3.8e-7, "control": 0.37}, True),
        ({"drift": 2e-3, "control": 0.37}, False),       # DDP is not the bigger batch
        ({"drift": 1e-4, "control": 0.37}, False),       # the margin itself is not "within"
        ({"drift": 3.8e-7, "control": 5e-3}, None),      # the control cannot be told apart either
    ],
    "sys-hw": [
        # an idle CPU: matmul at 60% of the nominal estimate, 3x growth, add at 0.5% of peak and 0.95x the copy
        ({"matmul_of_peak": E(0.6, 0.05), "growth": E(math.log(3), 0.1), "add_of_peak": E(0.005, 0.001),
          "add_of_bandwidth": E(math.log(0.95), 0.05), "cpu_share": 0.98}, True),
        # a GPU against its datasheet (no CPU share)
        ({"matmul_of_peak": E(0.7, 0.02), "growth": E(math.log(50), 0.2), "add_of_peak": E(0.004, 0.001),
          "add_of_bandwidth": E(math.log(0.85), 0.02), "cpu_share": None}, True),
        # matmul far from the independent ceiling: the old rule (ceiling = its own best matmul) could not fail here
        ({"matmul_of_peak": E(0.1, 0.02), "growth": E(math.log(3), 0.1), "add_of_peak": E(0.005, 0.001),
          "add_of_bandwidth": E(math.log(0.95), 0.05), "cpu_share": 0.98}, False),
        # matmul does not grow with n
        ({"matmul_of_peak": E(0.6, 0.05), "growth": E(0.0, 0.05), "add_of_peak": E(0.005, 0.001),
          "add_of_bandwidth": E(math.log(0.95), 0.05), "cpu_share": 0.98}, False),
        # the add is not bandwidth-bound (10% of the copy's bytes/s)
        ({"matmul_of_peak": E(0.6, 0.05), "growth": E(math.log(3), 0.1), "add_of_peak": E(0.005, 0.001),
          "add_of_bandwidth": E(math.log(0.1), 0.1), "cpu_share": 0.98}, False),
        # contended CPU (the 0.07 GFLOP/s at n=64): inconclusive whatever the numbers
        ({"matmul_of_peak": E(0.1, 0.02), "growth": E(math.log(30), 0.5), "add_of_peak": E(0.005, 0.001),
          "add_of_bandwidth": E(math.log(0.5), 0.1), "cpu_share": 0.45}, None),
        # no independent ceiling known (unknown GPU)
        ({"matmul_of_peak": None, "growth": E(math.log(50), 0.2), "add_of_peak": None,
          "add_of_bandwidth": E(math.log(0.85), 0.02), "cpu_share": None}, None),
    ],
}
