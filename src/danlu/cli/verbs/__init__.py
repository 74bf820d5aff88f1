"""One module per ``danlu`` verb; see :mod:`danlu.cli` for the protocol."""
