"""``python -m emotune.history listener=NAME [export=FILE.json|FILE.csv] [forget=true]``: a listener's history in the
store (:mod:`emotune.runtime.history`; docs/listener.md)."""

from __future__ import annotations

from emotune.runtime.history import main

if __name__ == "__main__":
    main()
