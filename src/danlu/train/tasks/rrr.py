"""The ``rrr`` task: "Right for the Right Reasons" (Ross et al. 2017) for ``danlu train``.

Classification whose training batches carry annotation masks, ``(x, y, mask)``, and whose loss adds
the input-gradient penalty on the masked inputs; defined in :mod:`danlu.priors.rrr`. Use it with a
dataset that yields masks, e.g. ``data: {name: decoy_mnist, args: {with_masks: true}}``
(``configs/decoy_rrr.yaml``).
"""

from __future__ import annotations

from danlu.priors.rrr import RRRTask
from danlu.train.tasks import TASKS

TASKS.register("rrr")(RRRTask)
