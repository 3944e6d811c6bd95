"""What every ``summit`` command shares: settings, the database, the schema
migration, progress on the terminal, and expected failures as one clear line.

A command raises, and :class:`SummitGroup` (the ``summit`` group) turns every
expected failure into one line that names what went wrong and how to fix it:
exit 2 for usage and configuration (a bad setting, a database that cannot be
reached, a URL that is refused, malformed or not Summit's), exit 1 for a
check that ran and failed. Features add their own with :func:`explains`.
An unexpected exception is a bug: one line too, or the traceback with
``summit --traceback``. Imports no Flask.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
import requests
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from app.core.db import Database
from app.settings import Settings, SettingsError, load_settings

E = TypeVar("E", bound=BaseException)


class ConfigurationError(click.ClickException):
    """Usage or configuration: the command could not do its work. Exit 2."""

    exit_code = 2


class CheckFailed(click.ClickException):
    """The command ran its check, and the check failed. Exit 1."""

    exit_code = 1


# (exception type, what to say): the first that matches, and does not pass by
# returning None, explains a failure.
EXPLAINERS: list[tuple[type[BaseException], Callable[[Any], click.ClickException | None]]] = []


def explains(kind: type[E]) -> Callable[[Callable[[E], click.ClickException | None]], Any]:
    """Register ``function`` to turn a ``kind`` exception into one clear line."""

    def register(function: Callable[[E], click.ClickException | None]) -> Any:
        EXPLAINERS.append((kind, function))
        return function

    return register


def explain(exc: BaseException) -> click.ClickException | None:
    for kind, function in EXPLAINERS:
        if isinstance(exc, kind) and (said := function(exc)) is not None:
            return said
    return None


class SummitGroup(click.Group):
    """The ``summit`` group: no traceback for an expected failure, in any command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            known = explain(exc)
            if known is not None:
                raise known from None
            if ctx.params.get("traceback"):
                raise
            raise click.ClickException(
                f"unexpected {type(exc).__name__}: {first_line(exc)} "
                "(a bug in Summit: rerun with `summit --traceback ...` and report what it prints)"
            ) from None


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


# --- settings, database, schema -------------------------------------------------------


def settings() -> Settings:
    return load_settings()  # a SettingsError becomes one line (below)


@contextmanager
def database() -> Iterator[tuple[Settings, Database]]:
    """The settings and the configured database, disposed of on the way out."""
    current = settings()
    db = Database(current.resolved_database_url)
    try:
        yield current, db
    finally:
        db.dispose()


@explains(SettingsError)
def _bad_setting(exc: SettingsError) -> click.ClickException:
    problems = [line.strip() for line in str(exc).splitlines() if line.strip()]
    lines = [_tidy(line) for line in (problems[1:] if problems[0].endswith(":") else problems)]
    return ConfigurationError(
        "; ".join(lines) + " (fix the environment variable; see docs/configuration.md)"
    )


def _tidy(problem: str) -> str:
    """A rule over several settings names them itself: drop pydantic's dump of
    every setting's value (some are secrets) and its "Value error" prefix."""
    problem = re.sub(r" \(got \{.*\}\)$", "", problem)
    return problem.removeprefix("settings: ").replace("Value error, ", "")


def migrate(current: Settings) -> None:
    """Create or migrate the schema (every Alembic head)."""
    from app.core.migrate import upgrade  # Alembic: only for the commands that migrate

    current.var_dir.mkdir(parents=True, exist_ok=True)
    db = Database(current.resolved_database_url)
    try:
        with status("migrating the schema"):
            upgrade(db.engine)
    finally:
        db.dispose()
    click.echo(f"schema is current ({redacted(current.resolved_database_url)})")


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _configured_database() -> str | None:
    try:
        return load_settings().resolved_database_url
    except SettingsError:
        return None


@explains(DBAPIError)
def _database_unreachable(exc: DBAPIError) -> click.ClickException:
    url = _configured_database()
    reason = first_line(exc.orig) if exc.orig is not None else first_line(exc)
    if "no such table" in reason or ("relation" in reason and "does not exist" in reason):
        return ConfigurationError(f"the database has no schema yet ({reason}): run `summit init`")
    if url and url.startswith("sqlite"):
        folder = Path(make_url(url).database or ".").resolve().parent
        if not folder.is_dir():
            return ConfigurationError(
                f"the SQLite database's folder {folder} does not exist: create it "
                f"(mkdir -p {folder}) or set DATABASE_URL to a file in a folder that exists"
            )
    where = f"at {redacted(url)}" if url else ""
    return ConfigurationError(
        f"cannot use the database {where}: {reason} (is it running and reachable? "
        "check DATABASE_URL)"
    )


@explains(Exception)
def _unknown_revision(exc: Exception) -> click.ClickException | None:
    # Alembic's CommandError, matched by name: importing Alembic costs every
    # command a third of a second, and only `init` and `serve` need it.
    kind = type(exc)
    if not (kind.__module__.startswith("alembic") and kind.__name__ == "CommandError"):
        return None
    return ConfigurationError(
        f"cannot migrate the schema: {first_line(exc)} (was the database migrated by a newer "
        "Summit? run that version, or restore a backup)"
    )


# --- URLs of a running server -----------------------------------------------------------


def base_url(url: str, option: str = "--url") -> str:
    """``url`` when it is an http(s) URL with a host; else one clear line (exit 2)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"{option} {url!r} is not an http(s) URL: give the server's base URL, "
            "like http://127.0.0.1:8000"
        )
    return url.strip().rstrip("/")


def _origin(request: Any) -> str:
    url = getattr(request, "url", None) or ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url or "the server"


@explains(requests.exceptions.ConnectionError)
def _refused(exc: requests.exceptions.ConnectionError) -> click.ClickException:
    where = _origin(exc.request)
    return ConfigurationError(
        f"cannot connect to {where}: the connection was refused or the host is unknown "
        "(is Summit running there? check the URL)"
    )


@explains(requests.exceptions.Timeout)
def _timed_out(exc: requests.exceptions.Timeout) -> click.ClickException:
    return ConfigurationError(f"{_origin(exc.request)} did not answer in time (is it overloaded?)")


@explains(requests.exceptions.RequestException)
def _bad_url(exc: requests.exceptions.RequestException) -> click.ClickException:
    return ConfigurationError(
        f"cannot call the server: {first_line(exc)} (give the base URL, like http://127.0.0.1:8000)"
    )


# --- files ------------------------------------------------------------------------------


@explains(PermissionError)
def _not_allowed(exc: PermissionError) -> click.ClickException:
    return ConfigurationError(
        f"cannot write {exc.filename}: permission denied (set SUMMIT_VAR_DIR to a folder "
        "this user may write)"
    )


# --- on the terminal ----------------------------------------------------------------------


def terminal() -> Console:
    """Rich's console on this command's stdout (looked up now, so tests capture it)."""
    return Console(highlight=False, markup=False)


class Progress:
    """What a slow command says as it goes: ``update`` changes the spinner's words,
    ``line`` prints a line above it (or just the line, off a terminal)."""

    def __init__(self, out: Console | None = None, shown: Any = None) -> None:
        self._out, self._shown = out, shown

    def update(self, words: str) -> None:
        if self._shown is not None:
            self._shown.update(words)

    def line(self, text: str) -> None:
        # Through rich while the spinner shows: click would write past it.
        if self._out is not None:
            self._out.print(text, soft_wrap=True)
        else:
            click.echo(text)


@contextmanager
def status(words: str) -> Iterator[Progress]:
    """A spinner with ``words`` while a slow step runs (on a terminal only)."""
    out = terminal()
    if not out.is_terminal or os.environ.get("CI"):
        yield Progress()
        return
    with out.status(words) as shown:
        yield Progress(out, shown)
