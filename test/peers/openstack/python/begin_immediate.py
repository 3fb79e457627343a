"""
Imported first by every service of the test cloud: each transaction on sqlite starts with BEGIN IMMEDIATE.

oslo.db opens sqlite transactions with a plain (deferred) BEGIN. A transaction that reads and then writes,
as nova's instance.save() does, holds only a read snapshot until its first write; if another process
commits in between, sqlite refuses the upgrade at once with "database is locked" (WAL's busy snapshot),
without waiting the connection's timeout. Nova then aborts the build or the stop it was saving. With
BEGIN IMMEDIATE a transaction takes the one write lock first, so a contender waits its turn (the URL's
`timeout`) instead. A loopback cloud with a handful of servers loses nothing by serialising.

Only for the test cloud: a real OpenStack runs on MySQL or PostgreSQL.
"""

from sqlalchemy import event
from sqlalchemy.engine import Engine

# oslo.db's marker of a transaction it has begun (oslo_db/sqlalchemy/engines.py, `_init_events`). A
# class-level listener runs before the engine's own, so oslo.db finds the transaction open and emits nothing.
_MARKER = "in_transaction"


@event.listens_for(Engine, "begin")
def _begin_immediate(conn):
    if conn.engine.dialect.name == "sqlite" and _MARKER not in conn.info:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        conn.info[_MARKER] = True


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _end(conn):
    conn.info.pop(_MARKER, None)
