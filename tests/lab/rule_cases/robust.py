"""Rule cases for tr-adv and rob-noise, written from each card's pre-registered criterion."""

from __future__ import annotations

from danlu.lab.evidence import Estimate

E = Estimate.of

CASES = {
    # robust gain (margin +5), clean cost (margin 0), PGD - FGSM robust accuracy (margin 0); points
    "tr-adv": [
        ({"robust_gain": E(27, 3), "clean_cost": E(1.5, 1.0), "pgd_over_fgsm": E(3, 1)}, True),     # Madry's picture
        ({"robust_gain": E(2, 1), "clean_cost": E(1.5, 1.0), "pgd_over_fgsm": E(3, 1)}, False),     # gain too small
        ({"robust_gain": E(27, 3), "clean_cost": E(-2, 1.0), "pgd_over_fgsm": E(3, 1)}, False),     # clean acc rises
        ({"robust_gain": E(27, 3), "clean_cost": E(1.5, 1.0), "pgd_over_fgsm": E(-4, 1)}, False),   # FGSM more robust
        ({"robust_gain": E(26, 4), "clean_cost": E(1.4, 1.3), "pgd_over_fgsm": E(0.9, 4.5)}, None),  # seen at 3 seeds
        ({"robust_gain": E(6, 2), "clean_cost": E(1.5, 1.0), "pgd_over_fgsm": E(3, 1)}, None),      # gain straddles 5
    ],
    # mCA gains (margin +1), clean costs (below 2), ANT - Gaussian mCA (above -0.5); points
    "rob-noise": [
        ({"gauss_gain": E(6, 1), "ant_gain": E(7, 1), "gauss_cost": E(0.5, 0.5), "ant_cost": E(0.8, 0.5),
          "ant_minus_gauss": E(1, 1)}, True),                                                      # the paper's order
        ({"gauss_gain": E(6, 1), "ant_gain": E(4, 1), "gauss_cost": E(0.5, 0.5), "ant_cost": E(0.8, 0.5),
          "ant_minus_gauss": E(-2, 1)}, False),                                                    # ANT clearly worse
        ({"gauss_gain": E(0.2, 0.3), "ant_gain": E(7, 1), "gauss_cost": E(0.5, 0.5), "ant_cost": E(0.8, 0.5),
          "ant_minus_gauss": E(6, 1)}, False),                                                     # Gaussian no gain
        ({"gauss_gain": E(6, 1), "ant_gain": E(7, 1), "gauss_cost": E(5, 1), "ant_cost": E(0.8, 0.5),
          "ant_minus_gauss": E(1, 1)}, False),                                                     # clean cost too big
        ({"gauss_gain": E(5.8, 2.5), "ant_gain": E(4.1, 1.2), "gauss_cost": E(2.2, 4.7), "ant_cost": E(3.0, 2.8),
          "ant_minus_gauss": E(-1.7, 2.9)}, None),                                                 # seen at 3 seeds
    ],
}
