"""The log handler's filter: secrets scrubbed, and Playwright's driver leaving at
shutdown not reported as an error."""

from __future__ import annotations

import logging

from app.core.logs import RedactingFilter


def record(name: str, message: str, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, None, exc_info)


def test_the_driver_gone_at_shutdown_is_info_not_an_error() -> None:
    gone = record("asyncio", "Future exception was never retrieved",
                  Exception("Connection closed while reading from the driver"))  # fmt: skip
    assert RedactingFilter().filter(gone)
    assert (gone.levelno, gone.levelname) == (logging.INFO, "INFO")
    assert "Connection closed while reading from the driver" in (gone.exc_text or "")


def test_other_errors_keep_their_level() -> None:
    for other in (
        record("asyncio", "Future exception was never retrieved", Exception("boom")),
        record("summit.app", "Connection closed while reading from the driver"),
    ):
        assert RedactingFilter().filter(other)
        assert other.levelname == "ERROR"


def test_a_token_in_a_message_is_scrubbed() -> None:
    leaked = record("summit.app", "sent Bearer smt_abcdefghijkl to the server")
    assert RedactingFilter().filter(leaked)
    assert "smt_abcdefghijkl" not in leaked.getMessage()
    assert "[redacted]" in leaked.getMessage()
