"""The listener store: listeners, their sessions (mood trace at about 1 Hz, plays, feedback) and learned preferences.

SQLAlchemy 2 ORM (:mod:`.schema`) with Alembic migrations shipped in the package (:mod:`.migrations`, run when a store
is opened: :mod:`.engine`); SQLite by default, PostgreSQL through the same ``store.url``. It never holds video, images
or face crops: only numbers, song ids and the listener's name.
"""

from emotune.store.engine import StoreError, StoreSettings, open_engine
from emotune.store.store import ListenerStore

__all__ = ["ListenerStore", "StoreError", "StoreSettings", "open_engine"]
