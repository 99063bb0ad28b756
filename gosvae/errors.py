"""Errors raised for user mistakes.

Command-line entry points catch :class:`UserError` and print its message as one line on stderr
with exit code 2, never a traceback. Library code raises it (or a subclass) whenever the cause is
something the user gave: a missing file, a malformed folder, a bad option value. The message
names the problem precisely (file, field, expected value, what was found).

Example
-------
>>> raise DatasetLayoutError("/data/camvid: missing folder 'trainannot' (expected the SegNet layout)")
"""

from __future__ import annotations


class UserError(ValueError):
    """A mistake in what the user gave; its message is printed as a one-line error."""


class DatasetLayoutError(UserError):
    """A dataset root is missing or does not look like the expected layout."""


class MissingWeightsError(UserError):
    """Pretrained weights that a feature needs are not present at the given path."""


class ConfigError(UserError):
    """A configuration or scenario file is invalid (message names the file and the field path)."""
