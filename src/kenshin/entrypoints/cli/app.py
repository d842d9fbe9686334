"""The command group, the shared options and the error handling of every command."""

from __future__ import annotations

import getpass
import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from kenshin import __version__
from kenshin.bootstrap import App, open_app
from kenshin.config import find_config
from kenshin.domain.operators import Actor
from kenshin.domain.slots import zone
from kenshin.entrypoints import logs
from kenshin.entrypoints.listeners import Listener
from kenshin.errors import KenshinError

F = TypeVar("F", bound=Callable[..., object])


class KenshinGroup(click.Group):
    """A group that turns kenshin's own errors into a one-line message and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:  # noqa: ANN401 - click's own signature
        """Run the command; a KenshinError becomes 'Error: ...' instead of a traceback."""
        try:
            return super().invoke(ctx)
        except KenshinError as exc:
            raise click.ClickException(str(exc)) from exc
        except BrokenPipeError:  # the reader went away ('... | head'): main() ends quietly
            raise
        except shutil.Error as exc:  # a copy of a folder (its files that failed to copy)
            raise click.ClickException(_copy_failures(exc)) from exc
        except OSError as exc:  # a folder that cannot be made, a file that cannot be read
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise click.ClickException(f"a file is not UTF-8 text: {exc.reason}") from exc


def _copy_failures(error: shutil.Error) -> str:
    """The files a folder's copy failed on, as shutil.copytree lists them (source,
    copy, why), the first of them named."""
    failures = error.args[0] if error.args else None
    if isinstance(failures, list) and failures and all(isinstance(f, str) for f in failures):
        return f"a copy failed: {''.join(failures)}"  # a message spread into characters
    if (
        not isinstance(failures, list)
        or not failures
        or not all(isinstance(f, tuple) and len(f) == 3 for f in failures)
    ):
        return f"a copy failed: {error}"
    source, _copy, why = failures[0]
    more = f" (and {len(failures) - 1} more files)" if len(failures) > 1 else ""
    return f"cannot copy {source}: {why}{more}"


@click.group(cls=KenshinGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kenshin")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Config file (default: $KENSHIN_CONFIG, then ./kenshin.toml).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log progress details to stderr.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """kenshin: exact 30-minute energy from smart-meter readings, as customer CSV files."""
    logs.configure(logging.INFO if verbose else logging.WARNING)
    ctx.obj = (find_config(config_path), verbose)


@contextmanager
def opened(ctx: click.Context) -> Iterator[App]:
    """The app of the config this command was given, closed afterwards."""
    config, verbose = ctx.find_root().obj
    app = open_app(config)
    try:
        if not verbose:  # -v wins over the configured level
            logging.getLogger().setLevel(app.settings.logging.level)
        yield app
    finally:
        app.close()


def known_customer(app: App, customer_id: str | None, hint: str = "--customer") -> None:
    """A usage error if ``customer_id`` is given and names no customer: a typo would
    otherwise list nothing, as a customer with nothing to list does."""
    if customer_id is not None and app.store.registry.get_customer(customer_id) is None:
        raise click.BadParameter(
            f"no customer {customer_id!r}; 'kenshin customers list' shows them", param_hint=hint
        )


def cli_actor() -> Actor:
    """Who makes a change at the command line, as the audit log names them."""
    return Actor(f"cli:{getpass.getuser()}", "cli", "cli")


def echo_listeners(listeners: list[Listener]) -> None:
    """Print one line per listener of a long-running command, once it listens (scripts
    and tests read the ports from them)."""
    for listener in listeners:
        click.echo(listener.line)


def parse_moment(value: str, tz: ZoneInfo, option: str) -> datetime:
    """An option's ``value`` as an aware time: in ``tz`` unless it has a UTC offset of its
    own; BadParameter naming ``option`` otherwise."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: expected a time as YYYY-MM-DDTHH:MM", param_hint=option
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def parse_day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    """Click callback: a YYYY-MM-DD option as a date."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: expected a date as YYYY-MM-DD") from exc


def check_timezone(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Click callback: an IANA time zone name."""
    try:
        zone(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    return value


def endpoint_names(command: F) -> F:
    """The --hostname (or --host) and --ip options: the names and addresses units reach
    the MQTT endpoint by, which its certificate must name (kenshin init, server-cert)."""
    command = click.option(
        "--ip", "ips", multiple=True, help="An address units reach the endpoint at (repeatable)."
    )(command)
    return click.option(
        "--hostname",
        "--host",
        "hostnames",
        multiple=True,
        help="A name units reach the MQTT endpoint by (repeatable).",
    )(command)
