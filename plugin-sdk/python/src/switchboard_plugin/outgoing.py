"""Builders for what a plugin sends.

An :class:`Outgoing` message is content (text, :class:`Media`, a
:class:`Template` or raw JSON) plus delivery options (quick replies,
messaging type and tag, notification type, metadata...). Every builder
method returns a new object and leaves the one it was called on as it was,
so a half-built message can be reused::

    question = (
        Outgoing.text("Still there?")
        .quick_reply(QuickReply.text("Yes", "YES"), QuickReply.text("No", "NO"))
        .tag("HUMAN_AGENT")
    )
    menu = Template.button("What next?").postback("Order", "ORDER").web_url("Site", "https://example.com")
    cards = Template.generic(Element("Blue mug", subtitle="12 EUR").postback("Buy", "BUY_MUG"))
    later = Template.one_time_notif_request("Back in stock", "MUG_STOCK")
    picture = Media.image_url("https://example.com/cat.png")

The host checks the documented limits (2000 characters of text, 13 quick
replies, 3 buttons...) and refuses a message that breaks one with a
:class:`~switchboard_plugin.MessengerError` of kind ``invalid-request``.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Mapping, Optional, Union

from wit_world.imports import messenger as _m
from wit_world.imports import switchboard_plugin_types as _types

__all__ = [
    "Outgoing",
    "QuickReply",
    "Template",
    "Element",
    "Media",
    "Button",
    "Recipient",
    "MediaKind",
    "MessagingType",
    "NotificationType",
    "SenderAction",
    "Sendable",
    "RecipientLike",
]

MediaKind = _m.MediaKind
MessagingType = _m.MessagingType
NotificationType = _m.NotificationType
SenderAction = _m.SenderAction


def _json_object(value: Union[str, Mapping[str, Any]], what: str) -> str:
    """A JSON object's text: a mapping is encoded, a string is checked."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError as e:
            raise ValueError(f"{what} is not JSON: {e}") from None
        if not isinstance(parsed, dict):
            raise ValueError(f"{what} must be a JSON object, not {type(parsed).__name__}")
        return value
    if isinstance(value, Mapping):
        return json.dumps(dict(value), separators=(",", ":"), ensure_ascii=False)
    raise TypeError(f"{what} must be a JSON object as str or dict, not {type(value).__name__}")


class Recipient:
    """Who a message goes to (the Send API's ``recipient``), for
    :meth:`Context.send <switchboard_plugin.Context.send>`. A plain ``str``
    given there is a PSID."""

    @staticmethod
    def psid(psid: str) -> _types.Recipient:
        """A page-scoped user id."""
        return _types.Recipient_Psid(psid)

    @staticmethod
    def user_ref(user_ref: str) -> _types.Recipient:
        """A checkbox-plugin / chat-plugin ``user_ref``."""
        return _types.Recipient_UserRef(user_ref)

    @staticmethod
    def phone_number(phone_number: str) -> _types.Recipient:
        """Customer matching by phone number."""
        return _types.Recipient_PhoneNumber(phone_number)

    @staticmethod
    def post_id(post_id: str) -> _types.Recipient:
        """A private reply to a post."""
        return _types.Recipient_PostId(post_id)

    @staticmethod
    def comment_id(comment_id: str) -> _types.Recipient:
        """A private reply to a comment."""
        return _types.Recipient_CommentId(comment_id)

    @staticmethod
    def one_time_notif_token(token: str) -> _types.Recipient:
        """A one-time-notification token from a ``one_time_notif_req`` opt-in."""
        return _types.Recipient_OneTimeNotifToken(token)

    @staticmethod
    def notification_messages_token(token: str) -> _types.Recipient:
        """A recurring-notification token."""
        return _types.Recipient_NotificationMessagesToken(token)


RecipientLike = Union[str, _types.Recipient]
"""A PSID, or any :class:`Recipient`."""


def recipient_of(recipient: RecipientLike) -> _types.Recipient:
    if isinstance(recipient, str):
        return _types.Recipient_Psid(recipient)
    if isinstance(recipient, _RECIPIENT_CASES):
        return recipient
    raise TypeError(f"a recipient is a PSID str or a Recipient, not {type(recipient).__name__}")


_RECIPIENT_CASES = (
    _types.Recipient_Psid,
    _types.Recipient_UserRef,
    _types.Recipient_PhoneNumber,
    _types.Recipient_PostId,
    _types.Recipient_CommentId,
    _types.Recipient_OneTimeNotifToken,
    _types.Recipient_NotificationMessagesToken,
)


class Button:
    """Template buttons, for :meth:`Template.with_button` and
    :meth:`Element.with_button` (the ``postback``/``web_url``... methods
    there are shortcuts)."""

    @staticmethod
    def postback(title: str, payload: str) -> _m.Button:
        """Sends a ``postback`` event with ``payload`` when tapped."""
        return _m.Button_Postback((title, payload))

    @staticmethod
    def web_url(title: str, url: str) -> _m.Button:
        """Opens ``url``."""
        return _m.Button_WebUrl((title, url))

    @staticmethod
    def phone_number(title: str, phone_number: str) -> _m.Button:
        """Calls ``phone_number`` (``+`` and country code)."""
        return _m.Button_PhoneNumber((title, phone_number))

    @staticmethod
    def account_link(url: str) -> _m.Button:
        """A log-in button to the account-linking ``url``."""
        return _m.Button_AccountLink(url)

    @staticmethod
    def account_unlink() -> _m.Button:
        """A log-out button."""
        return _m.Button_AccountUnlink()


class QuickReply:
    """A quick-reply chip under a message. A tap comes back as a message
    whose ``quick_reply_payload`` is the chip's payload."""

    __slots__ = ("_wit",)

    def __init__(self, wit: _m.QuickReply) -> None:
        self._wit = wit

    @classmethod
    def text(cls, title: str, payload: str) -> QuickReply:
        """A text chip: ``title`` (at most 20 characters) and the
        ``payload`` you get back (at most 1000)."""
        return cls(_m.QuickReply(_m.QuickReplyKind.TEXT, title, payload, None))

    @classmethod
    def user_email(cls) -> QuickReply:
        """Offers the person's email address from their profile."""
        return cls(_m.QuickReply(_m.QuickReplyKind.USER_EMAIL, None, None, None))

    @classmethod
    def user_phone_number(cls) -> QuickReply:
        """Offers the person's phone number from their profile."""
        return cls(_m.QuickReply(_m.QuickReplyKind.USER_PHONE_NUMBER, None, None, None))

    def image_url(self, url: str) -> QuickReply:
        """The same chip with an icon."""
        wit = copy.copy(self._wit)
        wit.image_url = url
        return QuickReply(wit)

    def to_wit(self) -> _m.QuickReply:
        """The WIT ``quick-reply`` record."""
        return copy.copy(self._wit)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, QuickReply) and other._wit == self._wit

    def __repr__(self) -> str:
        return f"QuickReply({self._wit!r})"


class Media:
    """An image, audio, video or file attachment, by URL or saved id."""

    __slots__ = ("_wit",)

    def __init__(self, wit: _m.Media) -> None:
        self._wit = wit

    @classmethod
    def url(cls, kind: _m.MediaKind, url: str) -> Media:
        """Media of any kind at a public URL."""
        return cls(_m.Media(kind, url, None, False))

    @classmethod
    def image_url(cls, url: str) -> Media:
        return cls.url(_m.MediaKind.IMAGE, url)

    @classmethod
    def audio_url(cls, url: str) -> Media:
        return cls.url(_m.MediaKind.AUDIO, url)

    @classmethod
    def video_url(cls, url: str) -> Media:
        return cls.url(_m.MediaKind.VIDEO, url)

    @classmethod
    def file_url(cls, url: str) -> Media:
        return cls.url(_m.MediaKind.FILE, url)

    @classmethod
    def attachment(cls, kind: _m.MediaKind, attachment_id: str) -> Media:
        """A saved asset, by its id from the Attachment Upload API or an
        earlier reusable send (``Sent.attachment_id``)."""
        return cls(_m.Media(kind, None, attachment_id, False))

    def reusable(self) -> Media:
        """Asks Messenger for an attachment id to send the same media again."""
        wit = copy.copy(self._wit)
        wit.is_reusable = True
        return Media(wit)

    def to_wit(self) -> _m.Media:
        """The WIT ``media`` record."""
        return copy.copy(self._wit)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Media) and other._wit == self._wit

    def __repr__(self) -> str:
        return f"Media({self._wit!r})"


class Element:
    """One card of a :meth:`Template.generic` carousel: a title (at most 80
    characters), an optional subtitle, image and URL opened when the card
    is tapped, and up to three buttons."""

    __slots__ = ("_wit",)

    def __init__(
        self,
        title: str,
        *,
        subtitle: Optional[str] = None,
        image_url: Optional[str] = None,
        default_action_url: Optional[str] = None,
    ) -> None:
        self._wit = _m.GenericElement(title, subtitle, image_url, default_action_url, [])

    def with_button(self, button: _m.Button) -> Element:
        """The same card with one more button (see :class:`Button`)."""
        card = copy.deepcopy(self)
        card._wit.buttons.append(button)
        return card

    def postback(self, title: str, payload: str) -> Element:
        return self.with_button(Button.postback(title, payload))

    def web_url(self, title: str, url: str) -> Element:
        return self.with_button(Button.web_url(title, url))

    def phone_number(self, title: str, phone_number: str) -> Element:
        return self.with_button(Button.phone_number(title, phone_number))

    def to_wit(self) -> _m.GenericElement:
        """The WIT ``generic-element`` record."""
        return copy.deepcopy(self._wit)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Element) and other._wit == self._wit

    def __repr__(self) -> str:
        return f"Element({self._wit!r})"


class Template:
    """A structured message: text with buttons, a carousel of cards, a
    one-time-notification request, or any other template as raw JSON.

    The button methods (:meth:`postback`, :meth:`web_url`...) add a button
    to a button template, or to the last card of a generic template; other
    templates ignore them.
    """

    __slots__ = ("_wit",)

    def __init__(self, wit: _m.Template) -> None:
        self._wit = wit

    @classmethod
    def button(cls, text: str) -> Template:
        """Text (at most 640 characters) with one to three buttons."""
        return cls(_m.Template_Button((text, [])))

    @classmethod
    def generic(cls, *elements: Element) -> Template:
        """A carousel of one to ten cards; more with :meth:`element`."""
        return cls(_m.Template_Generic([e.to_wit() for e in elements]))

    @classmethod
    def one_time_notif_request(cls, title: str, payload: str) -> Template:
        """Asks the person for permission to send one message outside the
        24-hour window: ``title`` (at most 65 characters) and a ``payload``,
        the topic. The answer arrives as an ``optin`` event, whose token the
        host keeps (:meth:`Context.notification_tokens
        <switchboard_plugin.Context.notification_tokens>`)."""
        return cls(_m.Template_OneTimeNotifRequest((title, payload)))

    @classmethod
    def raw(cls, payload: Union[str, Mapping[str, Any]]) -> Template:
        """Any other template: the ``attachment.payload`` object, as a dict
        or JSON text."""
        return cls(_m.Template_Raw(_json_object(payload, "a raw template payload")))

    def element(self, element: Element) -> Template:
        """A generic template with one more card."""
        template = copy.deepcopy(self)
        if isinstance(template._wit, _m.Template_Generic):
            template._wit.value.append(element.to_wit())
        return template

    def with_button(self, button: _m.Button) -> Template:
        """One more button (see the class's docs for where it goes)."""
        template = copy.deepcopy(self)
        wit = template._wit
        if isinstance(wit, _m.Template_Button):
            wit.value[1].append(button)
        elif isinstance(wit, _m.Template_Generic) and wit.value:
            wit.value[-1].buttons.append(button)
        return template

    def postback(self, title: str, payload: str) -> Template:
        """A button that sends a ``postback`` event with ``payload``."""
        return self.with_button(Button.postback(title, payload))

    def web_url(self, title: str, url: str) -> Template:
        """A button that opens ``url``."""
        return self.with_button(Button.web_url(title, url))

    def phone_number(self, title: str, phone_number: str) -> Template:
        """A button that calls ``phone_number`` (``+`` and country code)."""
        return self.with_button(Button.phone_number(title, phone_number))

    def account_link(self, url: str) -> Template:
        """A log-in button to the account-linking ``url``."""
        return self.with_button(Button.account_link(url))

    def account_unlink(self) -> Template:
        """A log-out button."""
        return self.with_button(Button.account_unlink())

    def to_wit(self) -> _m.Template:
        """The WIT ``template`` variant."""
        return copy.deepcopy(self._wit)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and other._wit == self._wit

    def __repr__(self) -> str:
        return f"Template({self._wit!r})"


class Outgoing:
    """A message to send: content plus delivery options. The recipient
    comes from :meth:`Context.reply <switchboard_plugin.Context.reply>` or
    :meth:`Context.send <switchboard_plugin.Context.send>`.

    The messaging type is RESPONSE unless :meth:`update` or :meth:`tag`
    says otherwise.
    """

    __slots__ = (
        "_content",
        "_quick_replies",
        "_messaging_type",
        "_tag",
        "_written_by_human",
        "_notification_type",
        "_metadata",
        "_reply_to",
        "_persona_id",
    )

    def __init__(self, content: _m.Content) -> None:
        self._content = content
        self._quick_replies: list[_m.QuickReply] = []
        self._messaging_type = _m.MessagingType.RESPONSE
        self._tag: Optional[str] = None
        self._written_by_human = False
        self._notification_type: Optional[_m.NotificationType] = None
        self._metadata: Optional[str] = None
        self._reply_to: Optional[str] = None
        self._persona_id: Optional[str] = None

    # Content.

    @classmethod
    def text(cls, text: str) -> Outgoing:
        """A text message (at most 2000 characters)."""
        return cls(_m.Content_Text(text))

    @classmethod
    def media(cls, media: Media) -> Outgoing:
        """An image, audio, video or file."""
        return cls(_m.Content_Media(media.to_wit()))

    @classmethod
    def template(cls, template: Template) -> Outgoing:
        """A structured template."""
        return cls(_m.Content_Template(template.to_wit()))

    @classmethod
    def raw(cls, message: Union[str, Mapping[str, Any]]) -> Outgoing:
        """What this SDK does not model, as keys of the Send API's
        ``message`` object: a sticker is
        ``Outgoing.raw({"sticker_id": 369239263222822})``. Quick replies
        and metadata still come from this object's own methods; the host
        refuses a raw object that names them."""
        return cls(_m.Content_Raw(_json_object(message, "a raw message")))

    @classmethod
    def of(cls, message: Sendable) -> Outgoing:
        """Any :data:`Sendable` as an ``Outgoing``: a ``str`` is a text
        message."""
        if isinstance(message, Outgoing):
            return message
        if isinstance(message, str):
            return cls.text(message)
        if isinstance(message, Template):
            return cls.template(message)
        if isinstance(message, Media):
            return cls.media(message)
        raise TypeError(f"cannot send a {type(message).__name__}: use a str, Outgoing, Template or Media")

    # Options.

    def _with(self, **fields: Any) -> Outgoing:
        message = copy.copy(self)
        message._quick_replies = list(self._quick_replies)
        for name, value in fields.items():
            setattr(message, "_" + name, value)
        return message

    def quick_reply(self, *replies: QuickReply) -> Outgoing:
        """Adds quick replies (at most 13 in all)."""
        return self._with(quick_replies=self._quick_replies + [r.to_wit() for r in replies])

    def update(self) -> Outgoing:
        """A proactive message inside the 24-hour window: messaging type UPDATE."""
        return self._with(messaging_type=_m.MessagingType.UPDATE, tag=None, written_by_human=False)

    def tag(self, tag: str) -> Outgoing:
        """A tagged message outside the 24-hour window: messaging type
        MESSAGE_TAG. The host sends only tags its operator allows
        (``HUMAN_AGENT`` by default); for that one use :meth:`human_agent`."""
        return self._with(messaging_type=_m.MessagingType.MESSAGE_TAG, tag=tag)

    def human_agent(self) -> Outgoing:
        """Text a person (an agent) wrote, sent with the ``HUMAN_AGENT`` tag:
        up to 7 days after the person's last message. Only for text a
        person wrote; the host refuses the tag otherwise."""
        return self._with(messaging_type=_m.MessagingType.MESSAGE_TAG, tag="HUMAN_AGENT", written_by_human=True)

    def notification(self, kind: _m.NotificationType) -> Outgoing:
        """How the person's device notifies them: ``NotificationType.REGULAR``,
        ``SILENT_PUSH`` or ``NO_PUSH``."""
        return self._with(notification_type=kind)

    def metadata(self, metadata: str) -> Outgoing:
        """Developer data echoed back in the ``echo`` event (under 1000 characters)."""
        return self._with(metadata=metadata)

    def reply_to(self, mid: str) -> Outgoing:
        """Shows the message as a reply to the message ``mid``."""
        return self._with(reply_to=mid)

    def persona(self, persona_id: str) -> Outgoing:
        """Sends as a persona of the Page."""
        return self._with(persona_id=persona_id)

    def to_wit(self, recipient: RecipientLike) -> _m.OutgoingMessage:
        """The WIT ``outgoing-message`` record for ``messenger.send``."""
        return _m.OutgoingMessage(
            recipient=recipient_of(recipient),
            content=copy.deepcopy(self._content),
            quick_replies=[copy.copy(q) for q in self._quick_replies],
            messaging_type=self._messaging_type,
            tag=self._tag,
            written_by_human=self._written_by_human,
            notification_type=self._notification_type,
            metadata=self._metadata,
            reply_to=self._reply_to,
            persona_id=self._persona_id,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Outgoing) and all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{s[1:]}={getattr(self, s)!r}" for s in self.__slots__)
        return f"Outgoing({fields})"


Sendable = Union[str, Outgoing, Template, Media]
"""What :meth:`Context.reply <switchboard_plugin.Context.reply>` and
:meth:`Context.send <switchboard_plugin.Context.send>` accept: a ``str`` is
a text message."""
