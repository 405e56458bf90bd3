"""Alembic environment: fakescope runs migrations in code (:func:`fakescope.service.db.migrate`), which
hands over the connection; ``alembic -x url=... upgrade head`` works as well."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from fakescope.service.db import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    conn = config.attributes.get("connection")
    if conn is not None:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = create_engine(url)
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
