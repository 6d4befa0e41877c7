"""Ending a process that used the Temporal client without interpreter finalization.

The Temporal SDK's native threads can abort CPython's finalization
(temporalio/sdk-python#300: "PyGILState_Release: thread state ... must be current when
releasing"), so a command that finished its work, a started claim printed, could still
exit 134. `run_and_exit` runs the program, flushes its output and logs, and ends the
process with `os._exit` and the program's own exit code.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import NoReturn


def exit_code(done: SystemExit) -> int:
    """`sys.exit`'s code as the process's: None is 0, a message (printed already) is 1."""
    if isinstance(done.code, int):
        return done.code
    return 0 if done.code is None else 1


def run_and_exit(
    program: Callable[[], object], before_exit: Callable[[], None] = lambda: None
) -> NoReturn:
    """Run `program`, then end the process with its exit code, skipping finalization.

    An exception other than SystemExit propagates as usual (a traceback, exit code 1).
    """
    code = 0
    try:
        program()
    except SystemExit as done:
        if isinstance(done.code, str):
            print(done.code, file=sys.stderr)
        code = exit_code(done)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        before_exit()
        logging.shutdown()
    os._exit(code)
