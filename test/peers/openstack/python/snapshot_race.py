"""
Two oslo.db transactions on one WAL sqlite file, in the order that breaks a service of the test cloud:
A reads, B writes and commits, A writes. Prints "committed both, last <task_state>" or the errors met.

Usage: python3 snapshot_race.py DATABASE_FILE [--begin-immediate]
"""

import sqlite3
import sys
import threading

from oslo_db.sqlalchemy import engines
from sqlalchemy import text

path = sys.argv[1]
if "--begin-immediate" in sys.argv[2:]:
    import begin_immediate  # noqa: F401  (what the cloud's services import first)

# As the cloud's set-up does: the schema, then WAL switched on outside any transaction.
sqlite3.connect(path).executescript(
    "create table instances (uuid text primary key, task_state text);"
    "insert into instances values ('i-1', null);"
    "pragma journal_mode=wal;"
)
url = f"sqlite:///{path}?timeout=20"
# Made before the race, so that B's write follows A's read by milliseconds, not by an engine's set-up.
engine_a = engines.create_engine(url, sqlite_synchronous=False)
engine_b = engines.create_engine(url, sqlite_synchronous=False)

a_has_read = threading.Event()
b_committed = threading.Event()
errors = []


def reader_then_writer():
    # nova's instance.save(): read the row, then update it, in one transaction.
    try:
        with engine_a.begin() as conn:
            conn.execute(text("select task_state from instances")).fetchall()
            a_has_read.set()
            # With BEGIN IMMEDIATE, B cannot commit while A holds the write lock: A goes on after 5 s.
            b_committed.wait(timeout=5)
            conn.execute(text("update instances set task_state = 'networking'"))
    except Exception as error:  # noqa: BLE001  the outcome is what the test reads
        errors.append(f"A: {error}")


def writer():
    # a heartbeat or periodic task of another service, between A's read and A's write.
    a_has_read.wait(timeout=10)
    try:
        with engine_b.begin() as conn:
            conn.execute(text("update instances set task_state = 'scheduling'"))
        b_committed.set()
    except Exception as error:  # noqa: BLE001
        errors.append(f"B: {error}")


threads = [threading.Thread(target=reader_then_writer), threading.Thread(target=writer)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(timeout=30)
last = sqlite3.connect(path).execute("select task_state from instances").fetchone()[0]
print("; ".join(errors) if errors else f"committed both, last {last}")
