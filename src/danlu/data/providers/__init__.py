"""Dataset providers: one module per area (``seq.py``, ``vision.py``, ...) that imports the module
whose ``@DATASETS.register`` decorators define that area's datasets. The registry's loader
imports every module here at the first lookup, so a new area adds a file, not an edit."""
