"""``kenshin backup``: a consistent copy of a site while ``kenshin serve`` runs."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import click

from kenshin.bootstrap import PARTIAL_FILES, App
from kenshin.config import StoreBackend
from kenshin.entrypoints.cli.app import cli, opened
from kenshin.entrypoints.cli.backup_layout import DATABASE, HOST_KEY, OUTBOX, Layout, layout
from kenshin.watch_setup import REPORT_STATE


@cli.command(short_help="Copy the site consistently, also while it serves.")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def backup(ctx: click.Context, dest: Path) -> None:
    """Copy the site into DEST (a new or empty folder), also while 'kenshin serve' runs:
    the database through SQLite's online backup (one consistent snapshot, checked), then
    the config file, the certificate authority and endpoint certificate (pki/), the
    outbox, the SFTP host key and the report's state. DEST is a data folder of its own:
    a database, outbox or host key configured outside the data folder is copied to its
    default place in DEST, and DEST's config names the copies. DEST holds secrets (keys,
    hashes): it is made 0700. To restore, copy DEST's contents into an empty data
    folder and run kenshin with its config."""
    if dest.exists() and any(dest.iterdir()):
        raise click.UsageError(f"{dest} is not empty: give a new or empty folder")
    config = ctx.find_root().obj[0]
    with opened(ctx) as app:
        _check_backend(app)
        plan = layout(config, app.settings, app.data_dir)
        _check_outside(dest, [app.pki_dir, app.outbox_dir])
        made = not dest.exists()
        dest.mkdir(parents=True, exist_ok=True)
        dest.chmod(0o700)
        try:
            _copy(app, plan, config, dest)
        except BaseException:
            _clear(dest, made)
            raise
    click.echo(f"backup complete in {dest}; to restore: copy it into an empty data folder")


def _check_backend(app: App) -> None:
    """Refuse a store or an outbox that is not a file and a folder here."""
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


def _copy(app: App, plan: Layout, config: Path, dest: Path) -> None:
    """The database, then the config, the files and the folders, into ``dest``."""
    target = dest / plan.paths[DATABASE]
    target.parent.mkdir(parents=True, exist_ok=True)
    size = app.backup_database(target)
    click.echo(f"database: {target} ({size:,} bytes, a consistent snapshot)")
    (dest / config.name).write_text(plan.config_text, encoding="utf-8")
    shutil.copystat(config, dest / config.name)
    set_there = f" ({', '.join(plan.changed)} set to the copies)" if plan.changed else ""
    click.echo(f"copied {dest / config.name}{set_there}")
    files = [(app.host_key_path, dest / plan.paths[HOST_KEY])]
    files += [(app.data_dir / REPORT_STATE, dest / REPORT_STATE)]
    for source, copy in files:
        if source.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy)
            click.echo(f"copied {copy}")
    trees = [(app.pki_dir, dest / app.pki_dir.name), (app.outbox_dir, dest / plan.paths[OUTBOX])]
    for tree, copied in trees:
        if tree.is_dir():
            ignored = shutil.ignore_patterns(PARTIAL_FILES)
            shutil.copytree(tree, copied, ignore=ignored, dirs_exist_ok=True)
            count = sum(1 for p in copied.rglob("*") if p.is_file())
            click.echo(f"copied {copied}/ ({count} files)")


def _clear(dest: Path, made: bool) -> None:
    """Remove a backup that failed half-way: ``dest`` if it was made, its contents else."""
    if made:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for entry in dest.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _check_outside(dest: Path, trees: Iterable[Path]) -> None:
    """Refuse a DEST inside a folder that is copied: it would copy itself."""
    for tree in trees:
        if dest.resolve().is_relative_to(tree.resolve()):
            raise click.UsageError(f"{dest} is inside {tree}, which is copied: choose another")
