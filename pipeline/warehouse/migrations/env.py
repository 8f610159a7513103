"""Alembic's entry point: runs the pending revisions on the connection FamilyHub passes in.

Always online, inside the caller's transaction (:func:`pipeline.warehouse.schema.upgrade`),
with the version table in ``ops``; at head, the replaceable objects are re-created.
"""

from alembic import context

from pipeline.warehouse import schema

conn = context.config.attributes["connection"]
context.configure(connection=conn, version_table_schema=schema.VERSION_SCHEMA)
with context.begin_transaction():
    schema.prepare(conn)
    context.run_migrations()
    if context.get_context().get_current_revision() == context.script.get_current_head():
        schema.refresh_replaceable(conn)
