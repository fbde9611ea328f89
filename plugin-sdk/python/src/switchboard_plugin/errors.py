"""Errors: why a host call failed, and how a handler gives up on an event.

* :class:`MessengerError`: the host or the Graph API refused a send, a
  sender action, a handover call or a profile lookup (the WIT
  ``messenger-error``). ``kind`` names the case; Graph errors carry
  ``code``, ``subcode``, ``http_status`` and ``fbtrace_id``.
* :class:`KvError`: a key-value call failed (the WIT ``kv-error``).
* :class:`PermanentError`: raise it from a handler when trying the event
  again would fail the same way; the host dead-letters the event at once.

Any other exception a handler lets out is a transient failure: the host
retries the event with backoff, then dead-letters it.
"""

from __future__ import annotations

from typing import Literal, Optional

from wit_world.imports import kv as _kv
from wit_world.imports import switchboard_plugin_types as _types

__all__ = [
    "SwitchboardError",
    "MessengerError",
    "KvError",
    "PermanentError",
    "GraphError",
    "MessengerErrorKind",
    "KvErrorKind",
]

GraphError = _types.GraphError

MessengerErrorKind = Literal[
    "graph",
    "invalid-request",
    "unavailable",
    "outside-window",
    "not-thread-owner",
    "notification-token-used",
    "notification-token-expired",
    "page-circuit-open",
    "quota-exceeded",
]

KvErrorKind = Literal["too-large", "not-a-number", "quota-exceeded", "unavailable"]

# WIT case class -> (kind, one-line text or None when the case carries its own).
_MESSENGER_CASES: dict[type, tuple[str, Optional[str]]] = {
    _types.MessengerError_Graph: ("graph", None),
    _types.MessengerError_InvalidRequest: ("invalid-request", "invalid request: {}"),
    _types.MessengerError_Unavailable: ("unavailable", "Graph API unavailable: {}"),
    _types.MessengerError_OutsideWindow: ("outside-window", "outside the 24-hour messaging window"),
    _types.MessengerError_NotThreadOwner: ("not-thread-owner", "another app owns the thread"),
    _types.MessengerError_NotificationTokenUsed: (
        "notification-token-used",
        "the one-time notification token was already used",
    ),
    _types.MessengerError_NotificationTokenExpired: (
        "notification-token-expired",
        "the one-time notification token has expired",
    ),
    _types.MessengerError_PageCircuitOpen: ("page-circuit-open", "the host paused Graph API calls for this Page"),
    _types.MessengerError_QuotaExceeded: ("quota-exceeded", "the plugin used up its host calls for this event"),
}

_KV_CASES: dict[type, tuple[str, str]] = {
    _kv.KvError_TooLarge: ("too-large", "key-value limit: {}"),
    _kv.KvError_NotANumber: ("not-a-number", "key-value increment on a value that is not an integer"),
    _kv.KvError_QuotaExceeded: ("quota-exceeded", "the plugin used up its host calls for this event"),
    _kv.KvError_Unavailable: ("unavailable", "key-value store unavailable: {}"),
}


class SwitchboardError(Exception):
    """Base class of the errors the SDK raises for host calls."""


class MessengerError(SwitchboardError):
    """The host or the Graph API refused a call.

    ``str(error)`` is one line for logs, e.g.
    ``graph error 10 (subcode 2018300): (#10) This message is sent outside
    of allowed window.``

    Attributes:
        kind: the WIT case: ``graph``, ``invalid-request``, ``unavailable``,
            ``outside-window``, ``not-thread-owner``,
            ``notification-token-used``, ``notification-token-expired``,
            ``page-circuit-open`` or ``quota-exceeded``.
        detail: the text of ``invalid-request`` and ``unavailable``.
        graph: the Graph API's error, for ``graph``.
        wit: the WIT value as the host returned it.
    """

    kind: MessengerErrorKind
    detail: Optional[str]
    graph: Optional[GraphError]
    wit: _types.MessengerError

    def __init__(self, wit: _types.MessengerError) -> None:
        kind, template = _MESSENGER_CASES.get(type(wit), ("unavailable", "host error: {}"))
        self.kind = kind  # type: ignore[assignment]
        self.wit = wit
        self.graph = wit.value if isinstance(wit, _types.MessengerError_Graph) else None
        value = getattr(wit, "value", None)
        self.detail = value if isinstance(value, str) else None
        if self.graph is not None:
            g = self.graph
            text = f"graph error {g.code}"
            if g.subcode is not None:
                text += f" (subcode {g.subcode})"
            text += f": {g.message}"
        else:
            text = (template or "{}").format(self.detail if self.detail is not None else wit)
        super().__init__(text)

    @property
    def code(self) -> Optional[int]:
        """Graph ``error.code`` (10, 100, 190, 551, 613...), for ``graph``."""
        return self.graph.code if self.graph else None

    @property
    def subcode(self) -> Optional[int]:
        """Graph ``error.error_subcode`` (2018278, 2018300...)."""
        return self.graph.subcode if self.graph else None

    @property
    def http_status(self) -> Optional[int]:
        """HTTP status of the Graph response (0 when it did not answer)."""
        return self.graph.http_status if self.graph else None

    @property
    def fbtrace_id(self) -> Optional[str]:
        """Quote it when asking Meta for help."""
        return self.graph.fbtrace_id if self.graph else None


class KvError(SwitchboardError):
    """A key-value call failed.

    Attributes:
        kind: ``too-large`` (a key, value or namespace over its limit, an
            empty key or a zero TTL), ``not-a-number`` (``increment`` on a
            value that is not a decimal integer, or an overflow),
            ``quota-exceeded`` or ``unavailable``.
        detail: the text of ``too-large`` and ``unavailable``.
        wit: the WIT value as the host returned it.
    """

    kind: KvErrorKind
    detail: Optional[str]
    wit: _kv.KvError

    def __init__(self, wit: _kv.KvError) -> None:
        kind, template = _KV_CASES.get(type(wit), ("unavailable", "key-value error: {}"))
        self.kind = kind  # type: ignore[assignment]
        self.wit = wit
        value = getattr(wit, "value", None)
        self.detail = value if isinstance(value, str) else None
        super().__init__(template.format(self.detail if self.detail is not None else wit))


class PermanentError(Exception):
    """A failure that trying the event again would repeat (data the plugin
    cannot handle, a bug): the host moves the event to the dead letters at
    once, to replay once the plugin is fixed (``switchboard dlq retry``).

    ``raise PermanentError("unknown product 42")``, or wrap a cause:
    ``raise PermanentError(f"bad body: {e}") from e``.
    """

