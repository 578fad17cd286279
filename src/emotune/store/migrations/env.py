"""Alembic's environment for the listener store: always run programmatically on a connection that
:func:`emotune.store.engine.open_engine` passes in ``config.attributes["connection"]`` (no ``alembic.ini``)."""

from __future__ import annotations

from alembic import context

from emotune.store.schema import Base


def run_migrations_online() -> None:
    """Upgrade on the given connection, in one transaction (SQLite: ``render_as_batch`` for later ALTERs)."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":  # two first opens at once: the second waits, then sees head
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(726175)")
        context.run_migrations()


run_migrations_online()
