"""Reading process-wide state without changing it: the umask (``/proc/self/status``; ``os.umask`` can only be read
by setting it) and torch's thread count as a new thread gets it."""

from __future__ import annotations

import threading
from pathlib import Path


def umask() -> int:
    """The process umask, read from ``/proc/self/status`` (Linux), without setting it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise RuntimeError("no Umask line in /proc/self/status (Linux >= 4.7 has one)")


def torch_threads_of_a_new_thread() -> int:
    """``torch.get_num_threads()`` in a fresh thread: the process's setting, whatever this thread last set."""
    import torch

    seen: list[int] = []
    t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    t.start()
    t.join()
    return seen[0]
