"""Alembic migrations of the listener store, run by :func:`emotune.store.engine.open_engine` (never by hand).

A new schema is a new file in ``versions/`` whose ``down_revision`` is the last one's (``alembic revision`` with
``script_location`` pointing here writes one from ``script.py.mako``); a store written by this version then opens in
the next, which upgrades it.
"""
