"""The SQLite store's schema: one migration script per version, applied in order.

``PRAGMA user_version`` counts the scripts that have run; a database newer than
this code is refused, so that an old kenshin never writes to a schema it does
not know.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from kenshin.adapters import (
    sqlite_alerts,
    sqlite_days,
    sqlite_delivery,
    sqlite_operators,
    sqlite_settled,
    sqlite_units,
)
from kenshin.errors import StoreError

# One script per schema version; PRAGMA user_version counts how many have run.
# Statements end at the end of a line.
MIGRATIONS = (
    """
    CREATE TABLE customers (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, timezone TEXT NOT NULL,
        encoding TEXT NOT NULL, layout TEXT NOT NULL, labels TEXT NOT NULL,
        decimals INTEGER NOT NULL, file_pattern TEXT NOT NULL);
    CREATE TABLE devices (id TEXT PRIMARY KEY, customer TEXT NOT NULL REFERENCES customers);
    CREATE INDEX devices_customer ON devices (customer);
    -- Every meter seen gets a key; save_meters registers it with a device and a spec.
    -- No foreign key on device: a meter may be seen before its device is known.
    CREATE TABLE meters (
        key INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, device TEXT,
        unit_mwh INTEGER, coefficient INTEGER, digits INTEGER, max_demand_w INTEGER);
    CREATE INDEX meters_device ON meters (device);
    CREATE TABLE batches (id INTEGER PRIMARY KEY, received_at INTEGER NOT NULL);
    -- Only this adapter writes readings; foreign keys would cost two lookups a row.
    CREATE TABLE readings (
        meter INTEGER NOT NULL, t INTEGER NOT NULL, fwd INTEGER, rev INTEGER,
        batch INTEGER NOT NULL, PRIMARY KEY (meter, t)) WITHOUT ROWID;
    CREATE TABLE conflicts (
        id INTEGER PRIMARY KEY, meter INTEGER NOT NULL REFERENCES meters, t INTEGER NOT NULL,
        stored_fwd INTEGER, stored_rev INTEGER, new_fwd INTEGER, new_rev INTEGER,
        batch INTEGER NOT NULL REFERENCES batches);
    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY, source TEXT NOT NULL, reason TEXT NOT NULL,
        payload BLOB NOT NULL, received_at INTEGER NOT NULL, device TEXT);
    CREATE TABLE revisions (
        customer TEXT NOT NULL, day TEXT NOT NULL, revision INTEGER NOT NULL,
        status TEXT NOT NULL, file_name TEXT NOT NULL, sha256 TEXT NOT NULL,
        content_key TEXT NOT NULL, "rows" INTEGER NOT NULL, slots INTEGER NOT NULL,
        actual_slots INTEGER NOT NULL, created_at INTEGER NOT NULL,
        PRIMARY KEY (customer, day, revision)) WITHOUT ROWID;
    """,
    sqlite_days.SCHEMA,
    """
    -- A dead letter or a conflict that comes again (a file imported twice) is kept once.
    DELETE FROM dead_letters WHERE id NOT IN (
        SELECT min(id) FROM dead_letters GROUP BY source, ifnull(device, ''), reason, payload);
    CREATE UNIQUE INDEX dead_letters_once
        ON dead_letters (source, ifnull(device, ''), reason, payload);
    DELETE FROM conflicts WHERE id NOT IN (
        SELECT min(id) FROM conflicts GROUP BY meter, t, ifnull(stored_fwd, -1),
            ifnull(stored_rev, -1), ifnull(new_fwd, -1), ifnull(new_rev, -1));
    CREATE UNIQUE INDEX conflicts_once ON conflicts (meter, t, ifnull(stored_fwd, -1),
        ifnull(stored_rev, -1), ifnull(new_fwd, -1), ifnull(new_rev, -1));
    """,
    """
    -- 1 once the meter has reported a reverse register.
    ALTER TABLE meters ADD COLUMN reverse INTEGER NOT NULL DEFAULT 0;
    UPDATE meters SET reverse = 1
        WHERE key IN (SELECT DISTINCT meter FROM readings WHERE rev IS NOT NULL);
    """,
    """
    -- Client certificates of devices. A serial has up to 160 bits, more than an INTEGER
    -- holds: it is kept as 40 lower-case hex digits.
    CREATE TABLE certificates (
        serial TEXT PRIMARY KEY, device TEXT NOT NULL REFERENCES devices,
        not_after INTEGER NOT NULL, issued_at INTEGER NOT NULL, revoked_at INTEGER
        ) WITHOUT ROWID;
    CREATE INDEX certificates_device ON certificates (device, issued_at);
    CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE revoked_at IS NOT NULL;
    """,
    """
    -- Commands queued for devices. AUTOINCREMENT: an id is never given twice, so the
    -- endpoint, which polls for ids above the last it saw, misses none.
    CREATE TABLE commands (
        id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL REFERENCES devices,
        name TEXT NOT NULL, payload BLOB NOT NULL, created_at INTEGER NOT NULL,
        sent_count INTEGER NOT NULL DEFAULT 0, last_sent_at INTEGER, acknowledged_at INTEGER);
    CREATE INDEX commands_pending ON commands (device, id) WHERE acknowledged_at IS NULL;
    """,
    """
    -- Readings keyed by time first: a fleet reports one half hour after another, so live
    -- ingest appends at the end of the B-tree instead of writing into every meter's part.
    CREATE TABLE readings_by_time (
        meter INTEGER NOT NULL, t INTEGER NOT NULL, fwd INTEGER, rev INTEGER,
        batch INTEGER NOT NULL, PRIMARY KEY (t, meter)) WITHOUT ROWID;
    INSERT INTO readings_by_time SELECT meter, t, fwd, rev, batch FROM readings ORDER BY t, meter;
    DROP TABLE readings;
    ALTER TABLE readings_by_time RENAME TO readings;
    """,
    sqlite_delivery.SCHEMA,
    """
    -- Slots of a file estimated by VEE (flag E), as its manifest says.
    ALTER TABLE revisions ADD COLUMN estimated_slots INTEGER NOT NULL DEFAULT 0;
    """,
    """
    -- Gap recovery counts the resend commands each device was sent lately.
    CREATE INDEX commands_named ON commands (name, created_at);
    """,
    sqlite_alerts.SCHEMA,
    sqlite_units.SCHEMA,
    """
    -- Slots a revision shows otherwise than the previous one (its change record).
    ALTER TABLE revisions ADD COLUMN changed_slots INTEGER NOT NULL DEFAULT 0;
    """,
    """
    -- Reads as of a batch, so that a file can be made again exactly as it was published:
    -- the batch each packed day row is as of (rows packed before: the newest batch then),
    -- and what each revision was made from (the newest batch and meter key it saw, and
    -- the settings it was made with).
    ALTER TABLE day_registers ADD COLUMN batch INTEGER NOT NULL DEFAULT 0;
    UPDATE day_registers SET batch = (SELECT ifnull(max(id), 0) FROM batches);
    ALTER TABLE revisions ADD COLUMN as_of_batch INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE revisions ADD COLUMN as_of_meter INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE revisions ADD COLUMN made_with TEXT NOT NULL DEFAULT '';
    """,
    """
    -- A meter's time in service (UTC epoch s): fitted, taken out (a meter exchange).
    ALTER TABLE meters ADD COLUMN installed_at INTEGER;
    ALTER TABLE meters ADD COLUMN removed_at INTEGER;
    """,
    """
    -- The newest batch that stored, completed or conflicted with a reading of each UTC
    -- day: the server restates a final day that got readings after its last revision.
    CREATE TABLE day_batches (day INTEGER PRIMARY KEY, batch INTEGER NOT NULL);
    """,
    sqlite_alerts.EXPORT_FAILURES,
    sqlite_delivery.UNLOCKS_SCHEMA,
    """
    -- How a customer's wide files label their slot columns and place the quality flags.
    ALTER TABLE customers ADD COLUMN slot_labels TEXT NOT NULL DEFAULT 'start';
    ALTER TABLE customers ADD COLUMN flags TEXT NOT NULL DEFAULT 'block';
    """,
    sqlite_units.STATUS_SCHEMA,
    """
    -- A removal set by an operator (kenshin devices remove, meters service): readings
    -- after it do not put the meter back in service, as they do an inferred exchange.
    ALTER TABLE meters ADD COLUMN removal_by_operator INTEGER NOT NULL DEFAULT 0;
    """,
    sqlite_delivery.FAILURES_SCHEMA,
    """
    -- When the unit sent each reading, in seconds after its time (NULL: not known, as for
    -- the readings stored before): of two conflicting readings, the one sent first is kept.
    ALTER TABLE readings ADD COLUMN sent_lag INTEGER;
    """,
    sqlite_operators.SCHEMA,
    sqlite_alerts.MARKS_SCHEMA,
    sqlite_alerts.HISTORY_SCHEMA,
    """
    -- Packed days are written as a first register and its steps (adapters/day_blobs.py),
    -- which a kenshin before it would misread: the new version number keeps it away.
    SELECT 1;
    """,
    sqlite_settled.SCHEMA,
)
TEMP_TABLES = """
    CREATE TEMP TABLE offered (meter INTEGER, t INTEGER, PRIMARY KEY (t, meter)) WITHOUT ROWID;
"""
TEMP_TABLES += sqlite_days.TEMP_SCHEMA + ";"


def migrate(db: sqlite3.Connection) -> int:
    """Bring the schema up to the newest version in one transaction; the version it was at."""
    db.execute("BEGIN IMMEDIATE")  # read the version under the lock: another process may migrate
    try:
        version: int = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"SQLite store: the database has schema version {version}, newer than this"
                f" kenshin knows ({len(MIGRATIONS)}): upgrade kenshin"
            )
        for script in MIGRATIONS[version:]:
            for statement in statements(script):
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        db.execute("COMMIT")
        return version
    finally:
        if db.in_transaction:
            db.execute("ROLLBACK")


def statements(script: str) -> Iterator[str]:
    """The statements of ``script``, which end at the end of a line."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
