"""The `gtn-nas` command line: a thin shell over `gtn_nas.api` (parse options, call, print)."""

from .commands import main

__all__ = ["main"]
