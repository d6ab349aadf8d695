"""Ctrl-C during a run: always a KeyboardInterrupt (Beam reports one as a RuntimeError), and a second one exits now."""

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a process stopped by Ctrl-C


@contextlib.contextmanager
def handled(on_interrupt: Callable[[], None]) -> Iterator[None]:
    """Runs the block with Ctrl-C raising KeyboardInterrupt, calling `on_interrupt` first.

    Whatever the block then ends with, an error or nothing (a library swallowed the KeyboardInterrupt), becomes that
    KeyboardInterrupt. After the first Ctrl-C, the handler stays for the rest of the process: a second Ctrl-C ends it
    at once, without a traceback (the next run recovers).
    """
    if threading.current_thread() is not threading.main_thread():  # signal handlers belong to the main thread
        yield
        return
    received = False

    def interrupt(signum, frame) -> None:
        nonlocal received
        received = True
        signal.signal(signal.SIGINT, lambda signum, frame: os._exit(EXIT_INTERRUPTED))
        on_interrupt()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    except Exception:
        if received:
            raise KeyboardInterrupt from None
        raise
    finally:
        if not received:
            signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
