"""Renamed public keywords keep working for a while: the old name is accepted with a ``DeprecationWarning``."""

from __future__ import annotations

import functools
import warnings
from typing import Callable


def renamed_keyword(old: str, new: str) -> Callable[[Callable], Callable]:
    """Decorator: ``fn(old=value)`` calls ``fn(new=value)`` and warns that ``old`` is deprecated; giving both is a
    TypeError."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{fn.__name__}() got both {new!r} and its deprecated alias {old!r}")
                warnings.warn(f"{fn.__name__}({old}=...) is deprecated, use {new}=...", DeprecationWarning,
                              stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return wrapper

    return decorate
