"""Logging and error output of the CLI, in runc's formats.

Without ``--log``, log records (and the final error) go to stderr, one line
each, as logrus text (``time="…" level=error msg="…"``) or JSON with
``--log-format json``. With ``--log FILE`` they go to that file in the same
format and the error is also printed plainly on stderr, which is what
containerd's go-runc reads back (it parses the JSON log for the reason).
"""

from __future__ import annotations

import json
import logging
import sys
import time

from runtime.errors import RuntimeFailure

LOGGER = "pysandbox"


def _timestamp(record: logging.LogRecord) -> str:
    # time, not datetime: one import fewer before boot is forked.
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))


class TextFormatter(logging.Formatter):
    """logrus TextFormatter style, as runc writes it."""

    def format(self, record: logging.LogRecord) -> str:
        level = "warning" if record.levelname == "WARNING" else record.levelname.lower()
        msg = json.dumps(record.getMessage(), ensure_ascii=False)
        return f'time="{_timestamp(record)}" level={level} msg={msg}'


class JSONFormatter(logging.Formatter):
    """logrus JSONFormatter style: {"level", "msg", "time"}."""

    def format(self, record: logging.LogRecord) -> str:
        level = "warning" if record.levelname == "WARNING" else record.levelname.lower()
        return json.dumps(
            {"level": level, "msg": record.getMessage(), "time": _timestamp(record)},
            ensure_ascii=False,
            separators=(",", ":"),
        )


def reset() -> None:
    """Forget handlers of an earlier run (the CLI is re-entered in tests)."""
    logging.getLogger(LOGGER).handlers.clear()


def setup(log_path: str, log_format: str, debug: bool) -> None:
    """Route the ``pysandbox`` loggers to ``log_path`` or stderr."""
    logger = logging.getLogger(LOGGER)
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    handler: logging.Handler
    if log_path:
        try:
            handler = logging.FileHandler(log_path, mode="a", encoding="utf-8")
        except OSError as exc:
            raise RuntimeFailure(f"cannot open log file {log_path}: {exc.strerror}") from None
    else:
        handler = logging.StreamHandler(sys.stderr)
        # Without a log file only warnings and errors reach the terminal
        # unless --debug is given.
        handler.setLevel(logging.DEBUG if debug else logging.WARNING)
    handler.setFormatter(JSONFormatter() if log_format == "json" else TextFormatter())
    logger.addHandler(handler)


def report(error: BaseException | str, log_path: str, log_format: str) -> None:
    """Print the command's fatal error: one line, in the configured format."""
    message = " ".join(str(error).split("\n"))
    logger = logging.getLogger(LOGGER)
    if not logger.handlers:
        try:
            setup(log_path, log_format, False)
        except RuntimeFailure:
            setup("", log_format, False)
            log_path = ""
    logger.error("%s", message)
    if log_path:
        sys.stderr.write(message + "\n")
    for handler in logger.handlers:
        handler.flush()
