"""``python -m emotune.session [key=value ...]``: a listening session driven by JSON lines on stdin (protocol:
:mod:`emotune.runtime.session_driver`; docs/listener.md)."""

from __future__ import annotations

from emotune.runtime.session_driver import main

if __name__ == "__main__":
    main()
