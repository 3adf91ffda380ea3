"""Logging set-up: the only module that configures loguru.

* a rotating file in the log directory, always;
* stderr when running in the foreground;
* stdlib logging (watchdog, httpx) routed into loguru;
* every line of a job tagged with its job id (``logger.bind(job=...)``);
* secrets (the API key) redacted from every message, and ``diagnose`` off so tracebacks never
  print variable values.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

LOG_FILE_NAME = "floradrop.log"
_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {extra[tag]}{message}"
_STDERR_FORMAT = "<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {extra[tag]}{message}"

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def add_secret(value: str | None) -> None:
    """Redact ``value`` from every log line from now on (ignores short or empty values)."""
    if value and len(value) >= 8:
        with _secrets_lock:
            _secrets.add(value)


# The parts of a presigned URL that sign it or name who signed it (SigV4 and SigV2 query
# authentication): a URL in a log line keeps its host and key but never these values.
_URL_SIGNATURE = re.compile(
    r"(?i)\b(X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|AWSAccessKeyId"
    r"|X-Goog-Signature|X-Goog-Credential)=[^&\s\"'<>]+"
)


def redact(text: str) -> str:
    for secret in tuple(_secrets):
        if secret in text:
            text = text.replace(secret, "[REDACTED]")
    if "=" in text:
        text = _URL_SIGNATURE.sub(r"\1=[REDACTED]", text)
    return text


def _patch(record: Record) -> None:
    record["message"] = redact(record["message"])
    job = record["extra"].get("job")
    record["extra"]["tag"] = f"[job {job}] " if job is not None else ""


class _InterceptHandler(logging.Handler):
    """Route stdlib logging records (watchdog, httpx) into loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def use_color(stream: Any) -> bool:
    """Colour on a terminal, unless ``NO_COLOR`` is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def setup_logging(
    *,
    log_dir: Path | None,
    level: str = "INFO",
    foreground: bool = True,
    stderr_level: str | None = None,
    stderr: Any = None,
) -> Path | None:
    """Configure logging for a command; returns the log file (None without a log dir).

    In the foreground, lines of ``stderr_level`` (default ``level``) and above also go to
    ``stderr`` (default ``sys.stderr``; ``run --once`` passes its progress line's writer)."""
    logger.remove()
    logger.configure(patcher=_patch, extra={"tag": ""})
    if foreground:
        logger.add(
            stderr or sys.stderr,
            level=stderr_level or level,
            format=_STDERR_FORMAT,
            colorize=use_color(sys.stderr),
            backtrace=False,
            diagnose=False,
        )
    log_file: Path | None = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_file = log_dir / LOG_FILE_NAME
        logger.add(
            log_file,
            level="DEBUG" if level == "DEBUG" else "INFO",
            format=_FORMAT,
            rotation="5 MB",
            retention=5,
            encoding="utf-8",
            enqueue=False,
            backtrace=False,
            diagnose=False,
        )
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.INFO, force=True)
    for noisy in ("httpx", "httpcore", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return log_file


def quiet_logging(level: str = "WARNING") -> None:
    """For short commands (status, pause): only warnings and errors, to stderr."""
    logger.remove()
    logger.configure(patcher=_patch, extra={"tag": ""})
    logger.add(sys.stderr, level=level, format="{message}", backtrace=False, diagnose=False)
