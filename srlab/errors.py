"""User-facing errors: raised for problems the user can fix (a missing folder, a bad value).

Entry points catch :class:`SrlabError` and print its message as one short paragraph instead of a
traceback (``SRLAB_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


class SrlabError(Exception):
    """Base class for errors whose message alone tells the user what to do."""


class DatasetNotFoundError(SrlabError, FileNotFoundError):
    """A dataset folder is missing; the message names the expected layout and how to get it."""


class ImageReadError(SrlabError, OSError):
    """An image file could not be decoded; the message names the file."""


class ConfigError(SrlabError, ValueError):
    """A configuration value is invalid; the message names the key."""


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn :class:`SrlabError` into ``srlab: error: <message>`` on stderr and exit status 2.

    Used inside Hydra task functions: Hydra would otherwise print a traceback for any exception.
    ``SRLAB_DEBUG=1`` re-raises instead.
    """
    try:
        yield
    except Exception as e:
        cause = find_user_error(e)
        if cause is None or os.environ.get("SRLAB_DEBUG"):
            raise
        print(f"srlab: error: {cause}", file=sys.stderr, flush=True)
        sys.exit(2)


def find_user_error(error: BaseException) -> SrlabError | None:
    """The :class:`SrlabError` behind ``error`` (Hydra wraps errors raised while instantiating)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, SrlabError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
