"""Logging through the host: each line lands in the host's log (target
``plugin``) tagged with the plugin, Page and event. The host caps the text
one event may log (``limits.log_bytes``)::

    from switchboard_plugin import log
    log.info("greeting sent")
    log.warn(f"unknown payload {payload!r}")
"""

from __future__ import annotations

from wit_world.imports import log as _host

__all__ = ["Level", "log", "trace", "debug", "info", "warn", "warning", "error"]

Level = _host.Level
"""``Level.TRACE``, ``DEBUG``, ``INFO``, ``WARN``, ``ERROR``."""


def log(level: _host.Level, message: object) -> None:
    """Writes ``message`` (``str()`` of it) at ``level``."""
    _host.log(level, message if isinstance(message, str) else str(message))


def trace(message: object) -> None:
    log(_host.Level.TRACE, message)


def debug(message: object) -> None:
    log(_host.Level.DEBUG, message)


def info(message: object) -> None:
    log(_host.Level.INFO, message)


def warn(message: object) -> None:
    log(_host.Level.WARN, message)


warning = warn
"""The same as :func:`warn`, by the name Python's ``logging`` uses."""


def error(message: object) -> None:
    log(_host.Level.ERROR, message)
