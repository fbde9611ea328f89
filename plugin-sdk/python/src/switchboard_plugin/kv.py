"""This plugin's own durable key-value state, kept by the host.

The namespace is (Page, plugin id): the keys belong to this plugin on the
Page of the event being handled, no other plugin can read them, and every
version of the plugin sees the same keys. A write returns once it is on
disk. A retried event runs its calls again, so use :func:`compare_and_swap`
or :func:`increment` where a repeat matters::

    from switchboard_plugin import kv
    visits = kv.increment("visits:42")
    kv.set("last-topic:42", "shoes", ttl=3600)
    topic = kv.get_str("last-topic:42")
    first_time = kv.compare_and_swap("welcomed:42", None, "1")

Values are bytes; a ``str`` given is stored as UTF-8. TTLs are in seconds
(an ``int``, a ``float`` or a ``datetime.timedelta``). Limits (host config
``[limits]``): keys up to 512 bytes, values up to ``kv_value_bytes``, the
namespace up to ``kv_namespace_bytes``; each call is one of the event's
host calls. Failures raise :class:`~switchboard_plugin.KvError`.
"""

from __future__ import annotations

import datetime
from typing import List, Optional, Union

from componentize_py_types import Err
from wit_world.imports import kv as _host

from .errors import KvError

__all__ = ["get", "get_str", "set", "delete", "compare_and_swap", "increment", "list_keys", "Value", "Ttl"]

Value = Union[bytes, bytearray, memoryview, str]
Ttl = Union[int, float, datetime.timedelta, None]


def _bytes(value: Value) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"a key-value value is bytes or str, not {type(value).__name__}")


def _ttl_ms(ttl: Ttl) -> Optional[int]:
    if ttl is None:
        return None
    seconds = ttl.total_seconds() if isinstance(ttl, datetime.timedelta) else float(ttl)
    if seconds <= 0:
        raise ValueError(f"a TTL must be positive, not {ttl!r}")
    return min(max(1, round(seconds * 1000)), 2**64 - 1)


def get(key: str) -> Optional[bytes]:
    """The value at ``key``, or ``None`` if it is absent or expired."""
    try:
        return _host.get(key)
    except Err as e:
        raise KvError(e.value) from None


def get_str(key: str) -> Optional[str]:
    """The value at ``key`` as text (invalid UTF-8 is replaced)."""
    value = get(key)
    return None if value is None else value.decode("utf-8", errors="replace")


def set(key: str, value: Value, ttl: Ttl = None) -> None:
    """Sets ``key``; with a ``ttl`` (seconds) it expires that long from now."""
    try:
        _host.set(key, _bytes(value), _ttl_ms(ttl))
    except Err as e:
        raise KvError(e.value) from None


def delete(key: str) -> bool:
    """Removes ``key``; ``True`` if it existed."""
    try:
        return _host.delete(key)
    except Err as e:
        raise KvError(e.value) from None


def compare_and_swap(key: str, expected: Optional[Value], new: Value, ttl: Ttl = None) -> bool:
    """Sets ``key`` to ``new`` only if its value is ``expected`` now
    (``None``: only if absent); ``True`` if it did."""
    try:
        return _host.compare_and_swap(key, None if expected is None else _bytes(expected), _bytes(new), _ttl_ms(ttl))
    except Err as e:
        raise KvError(e.value) from None


def increment(key: str, delta: int = 1) -> int:
    """Adds ``delta`` to the decimal integer at ``key`` (absent counts as 0)
    and returns the new value; the key keeps its expiry."""
    try:
        return _host.increment(key, delta)
    except Err as e:
        raise KvError(e.value) from None


def list_keys(prefix: str = "", limit: int = 1000) -> List[str]:
    """Keys starting with ``prefix``, in byte order, at most ``limit`` (at most 1000)."""
    try:
        return _host.list_keys(prefix, limit)
    except Err as e:
        raise KvError(e.value) from None
