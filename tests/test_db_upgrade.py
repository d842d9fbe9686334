"""The store's schema, versioned: created and upgraded by 'kenshin db upgrade', a store
newer than this kenshin refused with the reason, a PostgreSQL store chosen by its URL."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from conftest import kenshin, postgres_url
from kenshin.adapters import postgres_schema
from kenshin.adapters.sqlite_schema import MIGRATIONS, statements
from kenshin.bootstrap import init_project, open_app
from kenshin.config import load_settings
from kenshin.domain.model import Reading
from kenshin.errors import ConfigError, StoreError


def site_with(tmp_path: Path, store_lines: str) -> Path:
    site = tmp_path / "site"
    init_project(site)
    config = site / "kenshin.toml"
    text = config.read_text()
    start = text.index("[store]\n")
    end = text.index("\n\n", start)
    config.write_text(f"{text[:start]}[store]\n{store_lines}{text[end:]}")
    return site


def test_a_sqlite_store_of_an_older_schema_is_upgraded_and_says_from_what(tmp_path: Path) -> None:
    site = tmp_path / "site"
    init_project(site)
    assert kenshin(site, "db", "upgrade").output.endswith(
        f"kenshin.db: schema version {len(MIGRATIONS)}, this kenshin's: nothing to do\n"
    )
    old = tmp_path / "old.db"
    with closing(sqlite3.connect(old)) as db, db:
        for script in MIGRATIONS[:3]:
            for statement in statements(script):
                db.execute(statement)
        db.execute("PRAGMA user_version = 3")
    (site / "kenshin.db").unlink()
    old.rename(site / "kenshin.db")
    result = kenshin(site, "db", "upgrade")
    assert result.exit_code == 0
    assert result.output.endswith(f"schema upgraded from version 3 to {len(MIGRATIONS)}\n")


def test_a_sqlite_store_newer_than_this_kenshin_is_refused_with_the_reason(tmp_path: Path) -> None:
    site = tmp_path / "site"
    init_project(site)
    with closing(sqlite3.connect(site / "kenshin.db")) as db, db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    result = kenshin(site, "customers", "list")
    assert result.exit_code == 1
    assert f"newer than this kenshin knows ({len(MIGRATIONS)}): upgrade kenshin" in result.output


def test_a_store_url_that_is_no_postgresql_url_stops_loading_naming_the_key(tmp_path: Path) -> None:
    site = site_with(tmp_path, 'url = "mysql://root@localhost/kenshin"')
    with pytest.raises(ConfigError, match=r"store\.url.*'mysql' is no store URL: give postgres"):
        load_settings(site / "kenshin.toml")
    site = site_with(tmp_path / "2", 'backend = "memory"\nurl = "postgresql://localhost/k"')
    with pytest.raises(ConfigError, match="choose one"):
        load_settings(site / "kenshin.toml")


@pytest.mark.integration
def test_a_postgresql_store_is_made_by_db_upgrade_and_refused_before(
    tmp_path: Path, postgres_database: str
) -> None:
    url = postgres_url(tmp_path)
    site = site_with(tmp_path, f'url = "{url}"')
    with pytest.raises(StoreError, match=r"no kenshin store in schema .*run 'kenshin db upgrade'"):
        open_app(site / "kenshin.toml")
    first = kenshin(site, "db", "upgrade")
    assert first.exit_code == 0, first.output
    version = len(postgres_schema.MIGRATIONS)
    assert first.output.endswith(f"schema created, version {version}\n")
    assert kenshin(site, "db", "upgrade").output.endswith(
        f"schema version {version}, this kenshin's: nothing to do\n"
    )
    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(postgres_database, autocommit=True) as db:
        db.execute(
            sql.SQL("UPDATE {}.kenshin_schema SET version = %s").format(sql.Identifier(schema)),
            (version + 1,),
        )
    refused = kenshin(site, "db", "upgrade")
    assert refused.exit_code == 1
    newer = f"has version {version + 1}, newer than this kenshin knows ({version})"
    assert f"{newer}: upgrade kenshin" in refused.output


@pytest.mark.integration
def test_a_postgresql_store_of_version_1_is_refused_then_upgraded_with_its_readings_in_months(
    tmp_path: Path, postgres_database: str
) -> None:
    url = postgres_url(tmp_path)
    schema = url.rsplit("schema=", 1)[1]
    nov, dec, long_ago = 1_795_964_400, 1_796_140_800, 631_152_000  # 2026-11-30 JST, 12-01, 1990
    with psycopg.connect(postgres_database) as db:  # the store as kenshin 1 left it
        db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        db.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        db.execute(postgres_schema.MIGRATIONS[0])
        db.execute("CREATE TABLE kenshin_schema (version INTEGER NOT NULL)")
        db.execute("INSERT INTO kenshin_schema VALUES (1)")
        db.execute("INSERT INTO reading_meters (id) VALUES ('M1'), ('M2')")
        db.execute("INSERT INTO reading_batches (received_at) VALUES (%s)", (dec,))
        db.execute(
            "INSERT INTO readings VALUES (%s, 1, 1, 10, 0), (%s, 1, 1, 12, NULL), (%s, 1, 2, 7, 3)",
            (nov, dec, long_ago),
        )
    site = site_with(tmp_path, f'url = "{url}"')
    newest = len(postgres_schema.MIGRATIONS)
    with pytest.raises(StoreError, match=rf"has version 1, older than this kenshin's \({newest}\)"):
        open_app(site / "kenshin.toml")
    upgraded = kenshin(site, "db", "upgrade")
    assert upgraded.output.endswith(f"schema upgraded from version 1 to {newest}\n")
    with closing(open_app(site / "kenshin.toml")) as app:
        assert dict(app.store.readings.readings_between(["M1", "M2"], 0, 2 * dec)) == {
            "M1": [Reading("M1", nov, 10, 0), Reading("M1", dec, 12, None)],
            "M2": [Reading("M2", long_ago, 7, 3)],
        }
        # Kept with no send time: a conflicting reading sent whenever does not replace it.
        other = Reading("M1", nov, 11, 0, sent=nov + 5)
        result = app.store.readings.add_readings([other], received_at=dec)
        assert [(c.stored_fwd, c.new_fwd) for c in result.conflicts] == [(10, 11)]
        assert next(app.store.readings.readings_between(["M1"], nov, nov))[1] == [
            Reading("M1", nov, 10, 0)
        ]
    with psycopg.connect(postgres_database) as db:
        parts = db.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass"
            " ORDER BY 1",
            (f"{schema}.readings",),
        ).fetchall()
    assert parts == [
        ("readings_202611", "FOR VALUES FROM ('1793491200') TO ('1796083200')"),
        ("readings_202612", "FOR VALUES FROM ('1796083200') TO ('1798761600')"),
        ("readings_before_2000", "FOR VALUES FROM (MINVALUE) TO ('946684800')"),
        ("readings_from_2100", "FOR VALUES FROM ('4102444800') TO (MAXVALUE)"),
    ]
