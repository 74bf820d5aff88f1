"""Exceptions danlu raises for bad input.

Every error a user can cause by what they pass in (a name, a shape, a path, a value) is a
:class:`DanluError` whose message names the input and what was expected. The ``danlu`` command
turns these into one line on stderr and exit code 2, with no traceback; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations


class DanluError(ValueError):
    """Bad input: the message names the offending input and the valid choices or expectation."""


class UnknownNameError(DanluError):
    """A name that is not in a registry; the message lists the registered names."""


class UsageError(DanluError):
    """A command-line usage problem (bad flag value, unwritable path, missing device)."""
