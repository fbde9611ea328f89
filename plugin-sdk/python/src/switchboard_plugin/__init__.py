"""Write Switchboard Messenger plugins in Python.

A plugin is a WebAssembly component built with componentize-py against the
SDK's WIT (``switchboard:plugin@0.2.0``, world ``plugin``). Subclass
:class:`Plugin`, override the ``on_*`` methods you need, act through the
:class:`Context`, and export the class::

    from switchboard_plugin import Plugin, export

    class Echo(Plugin):
        name, version, event_kinds = "echo", "0.1.0", ["message"]

        def on_message(self, cx, message):
            if message.text and not cx.standby:
                cx.reply(f"You said: {message.text}")

    Handler = export(Echo)

See the SDK's README.md for the whole API.
"""

from wit_world.imports.conversation import (
    AccountLink,
    ConversationState,
    Interaction,
    InteractionSource,
    NotificationToken,
    ReceiverRole,
    ThreadOwner,
    ThreadOwner_Idle,
    ThreadOwner_OtherApp,
    ThreadOwner_ThisApp,
    ThreadOwner_Unknown,
)
from wit_world.imports.events import (
    AccountLinking,
    AppRole,
    Attachment,
    BusinessEvent,
    Coordinates,
    Delivery,
    Echo,
    GamePlay,
    Message,
    MessageEdit,
    Optin,
    PolicyEnforcement,
    Postback,
    Reaction,
    Read,
    Referral,
    ResponseFeedback,
    ThreadControlChange,
    ThreadControlRequest,
)
from wit_world.imports.messenger import Sent
from wit_world.imports.profile import UserProfile

from . import kv, log
from .context import PAGE_INBOX_APP_ID, Context, Event, EventData
from .errors import GraphError, KvError, MessengerError, PermanentError, SwitchboardError
from .outgoing import (
    Button,
    Element,
    Media,
    MediaKind,
    MessagingType,
    NotificationType,
    Outgoing,
    QuickReply,
    Recipient,
    RecipientLike,
    Sendable,
    SenderAction,
    Template,
)
from .plugin import CONTINUE, STOP, Handover, Plugin, Result, Verdict, export

__version__ = "0.2.0"
"""The SDK's version; it speaks the contract ``switchboard:plugin@0.2.0``."""

__all__ = [
    # Writing a plugin.
    "Plugin",
    "export",
    "Verdict",
    "CONTINUE",
    "STOP",
    "Result",
    "Context",
    "Event",
    "EventData",
    "Handover",
    "PAGE_INBOX_APP_ID",
    # Sending.
    "Outgoing",
    "QuickReply",
    "Template",
    "Element",
    "Button",
    "Media",
    "MediaKind",
    "Recipient",
    "RecipientLike",
    "Sendable",
    "MessagingType",
    "NotificationType",
    "SenderAction",
    "Sent",
    # Errors.
    "SwitchboardError",
    "MessengerError",
    "GraphError",
    "KvError",
    "PermanentError",
    # State and logs.
    "kv",
    "log",
    # Incoming records (the WIT's).
    "Message",
    "Echo",
    "Postback",
    "Optin",
    "Referral",
    "AccountLinking",
    "Delivery",
    "Read",
    "Reaction",
    "MessageEdit",
    "ThreadControlChange",
    "ThreadControlRequest",
    "AppRole",
    "PolicyEnforcement",
    "GamePlay",
    "ResponseFeedback",
    "BusinessEvent",
    "Attachment",
    "Coordinates",
    # What the host knows.
    "ConversationState",
    "Interaction",
    "InteractionSource",
    "NotificationToken",
    "ReceiverRole",
    "AccountLink",
    "ThreadOwner",
    "ThreadOwner_Unknown",
    "ThreadOwner_Idle",
    "ThreadOwner_ThisApp",
    "ThreadOwner_OtherApp",
    "UserProfile",
]
