"""The :class:`Plugin` base class a plugin subclasses, and :func:`export`,
which turns it into the ``Handler`` class componentize-py serves the WIT
``handler`` export with."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import ClassVar, List, Literal, Optional, Sequence, Type

from componentize_py_types import Err
from wit_world import exports as _exports
from wit_world.exports import handler as _handler
from wit_world.imports import events as _events

from . import log
from .context import Context, Event
from .errors import PermanentError, SwitchboardError

__all__ = ["Plugin", "Handover", "Verdict", "Result", "export", "CONTINUE", "STOP"]

Verdict = _handler.Verdict
"""What the host does after this plugin handled an event:
``Verdict.CONTINUE`` passes it on to the Page's next plugin, ``Verdict.STOP``
ends it there."""

CONTINUE = Verdict.CONTINUE
STOP = Verdict.STOP

Result = Optional[Verdict]
"""What a handler returns: ``None`` (the same as ``Verdict.CONTINUE``) or a
:data:`Verdict`."""

# Tracebacks logged for unexpected exceptions are cut to this many characters.
_TRACEBACK_CHARS = 4000


@dataclass(frozen=True)
class Handover:
    """A change of thread ownership, for :meth:`Plugin.on_handover`.

    Attributes:
        kind: ``"pass"`` (another app passed the thread, to this app or a
            third one), ``"take"`` (an app took it), ``"request"`` (an app
            asks the owner for it) or ``"app-roles"`` (the Page's app roles
            changed).
        change: for ``pass`` and ``take``: previous and new owner, metadata.
        request: for ``request``: who asks, metadata.
        app_roles: for ``app-roles``.
    """

    kind: Literal["pass", "take", "request", "app-roles"]
    change: Optional[_events.ThreadControlChange] = None
    request: Optional[_events.ThreadControlRequest] = None
    app_roles: Optional[List[_events.AppRole]] = None


class Plugin:
    """A Switchboard plugin. Subclass it, set ``name``, ``version`` and
    ``event_kinds``, override the ``on_*`` methods you need, and export it
    with ``Handler = export(MyPlugin)``.

    The host instantiates the component afresh for every event, and the
    SDK makes a new instance of the class for it: keep nothing on ``self``
    that must outlive the event; keep it in :mod:`~switchboard_plugin.kv`.

    Every method returns ``None`` (or ``Verdict.CONTINUE``) to pass the
    event on to the Page's next plugin, or ``Verdict.STOP`` to end it there.
    An exception fails the event: a :class:`PermanentError` dead-letters it
    at once; any other is transient, and the host retries the event later
    (sends that already succeeded are not repeated), then dead-letters it.
    """

    name: ClassVar[str] = ""
    """Shown in the host's logs and ``switchboard plugins``; empty: the
    class's name. The host knows the plugin by the id its config gives it
    (the file stem), not by this."""
    version: ClassVar[str] = "0.0.0"
    event_kinds: ClassVar[Sequence[str]] = ()
    """The kinds to receive (``message``, ``postback``, ``optin``,
    ``pass-thread-control``, ``business``...); empty: every kind. The host
    does not even instantiate the plugin for the others."""

    def handle(self, cx: Context) -> Result:
        """Handles one event; the default calls the ``on_*`` method of the
        event's kind. Override it to see every event whole (``cx.event``)."""
        event = cx.event
        data = event.data
        kind = event.kind
        if kind == "person-erased":
            return self.on_person_erased(cx)
        if data is None:
            return self.on_other(cx, event)
        if kind == "message":
            return self.on_message(cx, data)  # type: ignore[arg-type]
        if kind == "postback":
            return self.on_postback(cx, data)  # type: ignore[arg-type]
        if kind == "business":
            return self.on_business(cx, data)  # type: ignore[arg-type]
        if kind == "echo":
            return self.on_echo(cx, data)  # type: ignore[arg-type]
        if kind == "optin":
            return self.on_optin(cx, data)  # type: ignore[arg-type]
        if kind == "referral":
            return self.on_referral(cx, data)  # type: ignore[arg-type]
        if kind == "delivery":
            return self.on_delivery(cx, data)  # type: ignore[arg-type]
        if kind == "read":
            return self.on_read(cx, data)  # type: ignore[arg-type]
        if kind == "reaction":
            return self.on_reaction(cx, data)  # type: ignore[arg-type]
        if kind == "pass-thread-control":
            return self.on_handover(cx, Handover("pass", change=data))  # type: ignore[arg-type]
        if kind == "take-thread-control":
            return self.on_handover(cx, Handover("take", change=data))  # type: ignore[arg-type]
        if kind == "request-thread-control":
            return self.on_handover(cx, Handover("request", request=data))  # type: ignore[arg-type]
        if kind == "app-roles":
            return self.on_handover(cx, Handover("app-roles", app_roles=data))  # type: ignore[arg-type]
        return self.on_other(cx, event)

    def on_message(self, cx: Context, message: _events.Message) -> Result:
        """A person's message: text, a quick-reply tap
        (``message.quick_reply_payload``), attachments."""
        return None

    def on_echo(self, cx: Context, echo: _events.Echo) -> Result:
        """A message the Page sent, echoed back (by this app, another, or a person)."""
        return None

    def on_postback(self, cx: Context, postback: _events.Postback) -> Result:
        """A postback button, Get Started, or a persistent-menu item."""
        return None

    def on_optin(self, cx: Context, optin: _events.Optin) -> Result:
        """A plugin opt-in, or a one-time / recurring notification opt-in."""
        return None

    def on_referral(self, cx: Context, referral: _events.Referral) -> Result:
        """An m.me link, ad or chat-plugin referral into an existing thread."""
        return None

    def on_delivery(self, cx: Context, delivery: _events.Delivery) -> Result:
        return None

    def on_read(self, cx: Context, read: _events.Read) -> Result:
        return None

    def on_reaction(self, cx: Context, reaction: _events.Reaction) -> Result:
        return None

    def on_handover(self, cx: Context, handover: Handover) -> Result:
        """Thread control passed, taken or requested, or app roles changed."""
        return None

    def on_business(self, cx: Context, event: _events.BusinessEvent) -> Result:
        """An event from a system outside Messenger, posted to the host's
        ``POST /api/pages/{page}/events``: ``event.json`` is the body,
        ``event.kind`` its top-level ``"type"``. ``cx.psid`` is set when the
        caller named a person (``?psid=``)."""
        return None

    def on_person_erased(self, cx: Context) -> Result:
        """The host erased what it kept about ``cx.psid`` (an operator's
        ``switchboard people erase``, or Meta's data deletion callback):
        delete what the plugin keeps about them. Add ``person-erased`` to
        ``event_kinds`` (or list none) to receive it."""
        return None

    def on_other(self, cx: Context, event: Event) -> Result:
        """Every other kind (account linking, message edits, game plays...),
        including kinds newer than this SDK (``event.data`` is ``None``;
        read ``event.raw_json()``)."""
        return None


def _info(plugin: Type[Plugin]) -> _handler.PluginInfo:
    name = plugin.name or plugin.__name__
    version = plugin.version
    kinds = plugin.event_kinds
    if not isinstance(name, str) or not isinstance(version, str) or not version:
        raise TypeError(f"{plugin.__name__}: name and version must be non-empty str")
    if isinstance(kinds, str) or not all(isinstance(k, str) for k in kinds):
        raise TypeError(f"{plugin.__name__}: event_kinds must be a list of str, like [\"message\"], not {kinds!r}")
    return _handler.PluginInfo(name=name, version=version, event_kinds=list(kinds))


def _failure_text(error: BaseException) -> str:
    text = str(error)
    return text if text else type(error).__name__


def _run(plugin: Type[Plugin], resource: _events.Event) -> Verdict:
    """Runs one event through ``plugin``, mapping the outcome to the WIT
    ``result<verdict, failure>``: a return value is ``Ok``, an exception is
    raised as ``Err(failure)``."""
    try:
        cx = Context(Event(resource))
        verdict = plugin().handle(cx)
    except PermanentError as e:
        raise Err(_handler.Failure_Permanent(_failure_text(e))) from None
    except MemoryError:
        # Out of linear memory: let the instance trap, so the host reports
        # it as `out-of-memory` (its limit is `limits.memory_mib`).
        raise
    except SwitchboardError as e:
        # A refused host call: the host knows why, and whether a retry can help.
        raise Err(_handler.Failure_Transient(_failure_text(e))) from None
    except Exception as e:
        # A bug or a service that is down: worth its traceback in the log.
        trace = "".join(traceback.format_exception(e))
        if len(trace) > _TRACEBACK_CHARS:
            trace = "…" + trace[-_TRACEBACK_CHARS:]
        log.error(trace.rstrip())
        raise Err(_handler.Failure_Transient(_failure_text(e))) from None
    if verdict is None:
        return Verdict.CONTINUE
    if isinstance(verdict, Verdict):
        return verdict
    # Returning something else is a bug that a retry would repeat.
    raise Err(
        _handler.Failure_Permanent(
            f"{plugin.__name__}.handle returned {verdict!r}: return None, Verdict.CONTINUE or Verdict.STOP"
        )
    )


def export(plugin: Type[Plugin]) -> Type[_exports.Handler]:
    """The ``Handler`` class componentize-py looks for in the app module,
    serving ``plugin``: write ``Handler = export(MyPlugin)`` once, at the
    end of ``app.py``.

    The plugin's ``name``, ``version`` and ``event_kinds`` are checked here,
    so a mistake fails the build (componentize-py imports the app while
    building) rather than the host's load.
    """
    if not (isinstance(plugin, type) and issubclass(plugin, Plugin)):
        raise TypeError(f"export() takes a Plugin subclass, not {plugin!r}")
    info = _info(plugin)

    class Handler(_exports.Handler):
        def describe(self) -> _handler.PluginInfo:
            return _handler.PluginInfo(name=info.name, version=info.version, event_kinds=list(info.event_kinds))

        def handle(self, event: _events.Event) -> Verdict:
            return _run(plugin, event)

    Handler.__qualname__ = Handler.__name__ = "Handler"
    Handler.__module__ = plugin.__module__
    Handler.__doc__ = f"The WIT handler export, serving {plugin.__name__}."
    return Handler

