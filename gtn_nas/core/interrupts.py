"""Ctrl-C held back while a block of state changes runs, so a checkpoint never sees them half made."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


@contextmanager
def interrupts_deferred():
    """Hold a Ctrl-C (SIGINT) until the block has run, then deliver it: the block's state changes
    are never half made when the interrupt handler writes its checkpoint. (Signal handlers can only
    be set in the main thread; elsewhere the block runs unprotected.)"""
    previous = signal.getsignal(signal.SIGINT)  # None: set outside Python, and could not be put back
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield
        return
    held = []
    signal.signal(signal.SIGINT, lambda signum, frame: held.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held and callable(previous):
        previous(*held[0])  # Python's default handler raises KeyboardInterrupt
