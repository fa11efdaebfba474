"""Alembic environment: run with the connection `workflow.store.schema` passes in."""

from alembic import context
from sqlmodel import SQLModel

from workflow.store.models import load_all

load_all()  # registers every table

config = context.config
target_metadata = SQLModel.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `workflow init`")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
