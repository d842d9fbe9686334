"""``kenshin backup``: a consistent copy of a site while ``kenshin serve`` runs."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import click

from kenshin.bootstrap import PARTIAL_FILES
from kenshin.config import StoreBackend
from kenshin.entrypoints.cli.app import cli, opened
from kenshin.watch_setup import REPORT_STATE


@cli.command(short_help="Copy the site consistently, also while it serves.")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def backup(ctx: click.Context, dest: Path) -> None:
    """Copy the site into DEST (a new or empty folder), also while 'kenshin serve' runs:
    the database through SQLite's online backup (one consistent snapshot, checked), then
    the config file, the certificate authority and endpoint certificate (pki/), the
    outbox, the SFTP host key and the report's state. DEST holds secrets (keys,
    hashes): it is made 0700. To restore, copy DEST's contents into an empty data
    folder and run kenshin with its config."""
    if dest.exists() and any(dest.iterdir()):
        raise click.UsageError(f"{dest} is not empty: give a new or empty folder")
    config = ctx.find_root().obj[0]
    with opened(ctx) as app:
        if app.settings.store.kind != StoreBackend.SQLITE:
            raise click.UsageError(
                'only a SQLite store (store.backend = "sqlite", no store.url) is backed up:'
                " back a PostgreSQL store up with its own tools (pg_dump, base backups), a"
                " DynamoDB store with its point-in-time recovery"
            )
        if (where := app.settings.export.s3_outbox) is not None:
            raise click.UsageError(
                f"kenshin backup copies the outbox folder, and export.outbox is an S3 bucket"
                f" ({where}): keep its files with the bucket's versioning or replication"
            )
        data = app.data_dir
        trees = {app.pki_dir.name: app.pki_dir, app.settings.export.outbox: app.outbox_dir}
        _check_outside(dest, trees.values())
        dest.mkdir(parents=True, exist_ok=True)
        dest.chmod(0o700)
        target = dest / app.settings.store.path
        target.parent.mkdir(parents=True, exist_ok=True)
        size = app.backup_database(target)
        click.echo(f"database: {target} ({size:,} bytes, a consistent snapshot)")
        files = [(config, dest / config.name)]
        files += [(data / n, dest / n) for n in (app.settings.sftp.host_key, REPORT_STATE)]
        for source, copy in files:
            if source.is_file():
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, copy)
                click.echo(f"copied {copy}")
        for name, tree in trees.items():
            if tree.is_dir():
                ignored = shutil.ignore_patterns(PARTIAL_FILES)
                shutil.copytree(tree, dest / name, ignore=ignored, dirs_exist_ok=True)
                count = sum(1 for p in (dest / name).rglob("*") if p.is_file())
                click.echo(f"copied {dest / name}/ ({count} files)")
    click.echo(f"backup complete in {dest}; to restore: copy it into an empty data folder")


def _check_outside(dest: Path, trees: Iterable[Path]) -> None:
    """Refuse a DEST inside a folder that is copied: it would copy itself."""
    for tree in trees:
        if dest.resolve().is_relative_to(tree.resolve()):
            raise click.UsageError(f"{dest} is inside {tree}, which is copied: choose another")
