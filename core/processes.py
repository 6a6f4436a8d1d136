"""Starting a spawned child process without running the parent's `__main__` module in it.

multiprocessing's spawn start method re-runs the parent's `__main__` file in every child (as `__mp_main__`) so that
functions defined there can be unpickled. Under Streamlit, `sys.modules["__main__"]` is the page script the server is
running — app.py, or an AppTest page whose body needs arguments only its runner supplies — so a collector's child
would run the whole dashboard (or die with a NameError at its start). Our children's targets all live in importable
modules, so the child needs nothing from `__main__`: it is hidden for the instant the child is launched.
"""

from __future__ import annotations

import multiprocessing.process
import sys
import threading
import types

_MAIN_SWAP = threading.Lock()  # two threads starting children must not restore each other's placeholder


def start_clean(process: multiprocessing.process.BaseProcess) -> None:
    """Start `process` (of a spawn context) with an empty `__main__`, so the child imports only its target's module."""
    with _MAIN_SWAP:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            process.start()
        finally:
            sys.modules["__main__"] = main
