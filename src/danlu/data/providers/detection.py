"""The detection area's datasets (``shapes``)."""

import danlu.detection.data  # noqa: F401
