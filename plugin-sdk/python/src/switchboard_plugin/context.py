"""The event being handled (:class:`Event`) and :class:`Context`: who and
what it is about, and the host calls that act on it (send, sender actions,
handover) or tell about its person (conversation state, notification
tokens, profile)."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple, TypeVar, Union

from componentize_py_types import Err
from wit_world.imports import conversation as _conversation
from wit_world.imports import events as _events
from wit_world.imports import handover as _handover
from wit_world.imports import messenger as _messenger
from wit_world.imports import profile as _profile
from wit_world.imports import switchboard_plugin_types as _types

from .errors import MessengerError, SwitchboardError
from .outgoing import Outgoing, RecipientLike, Sendable, recipient_of

__all__ = ["Event", "Context", "PAGE_INBOX_APP_ID", "EventData"]

PAGE_INBOX_APP_ID = "263902037430900"
"""The Page Inbox app: pass the thread to it to hand the person over to the
Page's human agents."""

EventData = Union[
    _events.Message,
    _events.Echo,
    _events.Postback,
    _events.Optin,
    _events.Referral,
    _events.AccountLinking,
    _events.Delivery,
    _events.Read,
    _events.Reaction,
    _events.MessageEdit,
    _events.ThreadControlChange,
    _events.ThreadControlRequest,
    List[_events.AppRole],
    _events.PolicyEnforcement,
    _events.GamePlay,
    _events.ResponseFeedback,
    _events.BusinessEvent,
]

# The kinds this SDK knows, each with the resource method giving its content.
_ACCESSORS: dict[str, str] = {
    "message": "message",
    "echo": "echo",
    "postback": "postback",
    "optin": "optin",
    "referral": "referral",
    "account-linking": "account_linking",
    "delivery": "delivery",
    "read": "read",
    "reaction": "reaction",
    "message-edit": "message_edit",
    "pass-thread-control": "pass_thread_control",
    "take-thread-control": "take_thread_control",
    "request-thread-control": "request_thread_control",
    "app-roles": "app_roles",
    "policy-enforcement": "policy_enforcement",
    "game-play": "game_play",
    "response-feedback": "response_feedback",
    "business": "business",
}

T = TypeVar("T")


def _host_call(call: Callable[..., T], *args: Any) -> T:
    """Calls a messenger/handover/profile import, raising a typed error."""
    try:
        return call(*args)
    except Err as e:
        raise MessengerError(e.value) from None


class Event:
    """One messaging event for one Page (or a business event), read from the
    host's ``event`` resource.

    Attributes:
        id: host-assigned, stable across webhook redeliveries.
        page_id: the Page that received it.
        psid: the person's page-scoped id; for echoes, the person the Page
            wrote to. ``None`` for checkbox-plugin events and Page-wide
            business events.
        user_ref: set instead of a PSID by the checkbox and chat plugins.
        timestamp: epoch milliseconds, as Messenger stamped it.
        standby: ``True`` when another app owns the thread: watch, do not reply.
        kind: the kind's name as the host gives it (``message``, ``echo``,
            ``postback``, ``optin``, ``referral``, ``account-linking``,
            ``delivery``, ``read``, ``reaction``, ``message-edit``,
            ``pass-thread-control``, ``take-thread-control``,
            ``request-thread-control``, ``app-roles``,
            ``policy-enforcement``, ``game-play``, ``response-feedback``,
            ``business``, ``person-erased``, ``unknown``, or a newer name).
            ``person-erased`` is the host's: it erased what it kept about
            ``psid``; delete what the plugin keeps about them.
        data: the kind's content (a :class:`Message`, :class:`Postback`...,
            a list of :class:`AppRole` for ``app-roles``), or ``None`` for a
            kind without content (``person-erased``) or that this SDK does
            not model.
        unknown_key: for ``unknown``, the event's JSON key (``messaging_feedback``...).
    """

    __slots__ = ("id", "page_id", "psid", "user_ref", "timestamp", "standby", "kind", "data", "unknown_key", "_resource")

    def __init__(self, resource: _events.Event) -> None:
        self._resource = resource
        self.id: str = resource.id()
        self.page_id: str = resource.page_id()
        self.psid: Optional[str] = resource.psid()
        self.user_ref: Optional[str] = resource.user_ref()
        self.timestamp: int = resource.timestamp()
        self.standby: bool = resource.standby()
        self.kind: str = resource.kind()
        accessor = _ACCESSORS.get(self.kind)
        self.data: Optional[EventData] = getattr(resource, accessor)() if accessor else None
        self.unknown_key: Optional[str] = resource.unknown_key() if self.kind == "unknown" else None

    @property
    def known(self) -> bool:
        """Whether this SDK models the kind (and ``data`` holds its content)."""
        return self.data is not None

    def raw_json(self) -> str:
        """The event object exactly as received, for the fields this SDK
        does not model. Asked of the host when called."""
        return self._resource.raw_json()

    def __repr__(self) -> str:
        return f"Event(id={self.id!r}, kind={self.kind!r}, page_id={self.page_id!r}, psid={self.psid!r})"


class Context:
    """The event being handled, and what the plugin can do about it.

    Messages go out from the event's Page; :meth:`reply`, the sender
    actions and the handover calls address its person. A refused host call
    raises :class:`MessengerError`: let it out to give up on the event (the
    host decides whether a retry can help) or catch it to carry on.
    """

    __slots__ = ("event",)

    def __init__(self, event: Event) -> None:
        self.event = event
        """The whole :class:`Event`."""

    @property
    def id(self) -> str:
        """The host's id for the event, stable across webhook redeliveries."""
        return self.event.id

    @property
    def page_id(self) -> str:
        """The Page that received the event."""
        return self.event.page_id

    @property
    def psid(self) -> Optional[str]:
        """The person's page-scoped id, when there is one (for echoes, the
        person the Page wrote to)."""
        return self.event.psid

    @property
    def user_ref(self) -> Optional[str]:
        """The checkbox / chat plugin ``user_ref``, given instead of a PSID."""
        return self.event.user_ref

    @property
    def standby(self) -> bool:
        """``True`` when the event came in ``standby``: another app owns the
        thread, so watch but do not reply (a reply fails with
        ``not-thread-owner``)."""
        return self.event.standby

    @property
    def timestamp(self) -> int:
        """When Messenger stamped the event, in epoch milliseconds."""
        return self.event.timestamp

    @property
    def kind(self) -> str:
        """The event kind's name (``message``, ``postback``, ``business``...)."""
        return self.event.kind

    def raw_json(self) -> str:
        """The event object exactly as received (see :meth:`Event.raw_json`)."""
        return self.event.raw_json()

    # Sending.

    def sender(self) -> _types.Recipient:
        """The person the event came from, as a recipient: their PSID, else
        their ``user_ref``."""
        if self.event.psid is not None:
            return _types.Recipient_Psid(self.event.psid)
        if self.event.user_ref is not None:
            return _types.Recipient_UserRef(self.event.user_ref)
        raise SwitchboardError("this event has no sender to reply to")

    def reply(self, message: Sendable) -> _messenger.Sent:
        """Sends ``message`` (a ``str``, :class:`Outgoing`, :class:`Template`
        or :class:`Media`) to the person the event came from. The messaging
        type is RESPONSE unless the message says otherwise
        (:meth:`Outgoing.update`, :meth:`Outgoing.tag`)."""
        return self.send(self.sender(), message)

    def send(self, recipient: RecipientLike, message: Sendable) -> _messenger.Sent:
        """Sends ``message`` from the event's Page to any recipient: a PSID
        (``str``) or a :class:`Recipient` (``user_ref``, a one-time
        notification token, a comment...)."""
        return _host_call(_messenger.send, Outgoing.of(message).to_wit(recipient_of(recipient)))

    def typing_on(self) -> None:
        """Shows the typing indicator to the sender."""
        self.sender_action(_messenger.SenderAction.TYPING_ON)

    def typing_off(self) -> None:
        """Hides the typing indicator."""
        self.sender_action(_messenger.SenderAction.TYPING_OFF)

    def mark_seen(self) -> None:
        """Marks the sender's last message as seen."""
        self.sender_action(_messenger.SenderAction.MARK_SEEN)

    def sender_action(self, action: _messenger.SenderAction) -> None:
        """Sends a sender action (``SenderAction.TYPING_ON``...) to the sender."""
        _host_call(_messenger.send_action, self.sender(), action)

    # Handover.

    def _handover_psid(self) -> str:
        if self.event.psid is None:
            raise SwitchboardError("handover needs a PSID and this event has none")
        return self.event.psid

    def pass_thread_control(self, target_app_id: str, metadata: Optional[str] = None) -> None:
        """Passes the person's thread to another app, with optional
        metadata for it to read in its ``pass-thread-control`` event."""
        _host_call(_handover.pass_thread_control, self._handover_psid(), target_app_id, metadata)

    def pass_to_page_inbox(self, metadata: Optional[str] = None) -> None:
        """Hands the person over to the Page's human agents: passes the
        thread to the Page Inbox (:data:`PAGE_INBOX_APP_ID`)."""
        self.pass_thread_control(PAGE_INBOX_APP_ID, metadata)

    def take_thread_control(self, metadata: Optional[str] = None) -> None:
        """Takes the thread back (this app must be the primary receiver)."""
        _host_call(_handover.take_thread_control, self._handover_psid(), metadata)

    def request_thread_control(self, metadata: Optional[str] = None) -> None:
        """Asks the primary receiver for the thread."""
        _host_call(_handover.request_thread_control, self._handover_psid(), metadata)

    def release_thread_control(self, metadata: Optional[str] = None) -> None:
        """Gives the thread up, leaving it idle."""
        _host_call(_handover.release_thread_control, self._handover_psid(), metadata)

    def thread_owner(self) -> Optional[str]:
        """The app id owning the person's thread; ``None`` when it is idle."""
        return _host_call(_handover.thread_owner, self._handover_psid())

    def secondary_receivers(self) -> List[Tuple[str, str]]:
        """``(app id, name)`` of the Page's secondary receivers."""
        return _host_call(_handover.secondary_receivers)

    # What the host knows.

    def conversation(self, psid: Optional[str] = None) -> _conversation.ConversationState:
        """What the host knows of this Page's conversation with ``psid``
        (default: the event's person): last interaction and the window it
        opened, thread owner, this app's role, open one-time-notification
        tokens, account-link status."""
        return _conversation.state(psid if psid is not None else self._handover_psid())

    def notification_tokens(self, topic: str) -> List[_conversation.NotificationToken]:
        """The open one-time-notification tokens of this Page for ``topic``
        (the payload of the request template people accepted): who asked to
        be told. Send to each with ``Recipient.one_time_notif_token(t.token)``."""
        return _conversation.notification_tokens(topic)

    def user_profile(self, psid: Optional[str] = None) -> _profile.UserProfile:
        """The public profile (name, picture...) of ``psid`` (default: the
        event's person), cached by the host."""
        return _host_call(_profile.get, psid if psid is not None else self._handover_psid())

    def __repr__(self) -> str:
        return f"Context({self.event!r}, standby={self.standby!r})"
