"""The SDK's pure logic: builders to WIT records, the handler's outcome
mapping, dispatch, and host errors to typed exceptions. Host imports are
replaced by fakes; nothing here needs a host."""

import datetime
import unittest
from unittest import mock

from componentize_py_types import Err
from wit_world.exports import handler as wit_handler
from wit_world.imports import events as wit_events
from wit_world.imports import kv as wit_kv
from wit_world.imports import log as wit_log
from wit_world.imports import messenger as m
from wit_world.imports import switchboard_plugin_types as t

import switchboard_plugin as sp
from switchboard_plugin import (
    Element,
    KvError,
    Media,
    MessengerError,
    Outgoing,
    PermanentError,
    Plugin,
    QuickReply,
    Recipient,
    Template,
    Verdict,
    export,
    kv,
)


class FakeEvent:
    """Stands in for the host's `event` resource."""

    def __init__(self, kind, data=None, psid="42", standby=False, unknown_key=None, raw='{"x":1}'):
        self._kind, self._data, self._psid, self._standby = kind, data, psid, standby
        self._unknown_key, self._raw = unknown_key, raw

    def id(self):
        return "ev-1"

    def page_id(self):
        return "1001"

    def psid(self):
        return self._psid

    def user_ref(self):
        return None

    def timestamp(self):
        return 1700000000000

    def standby(self):
        return self._standby

    def kind(self):
        return self._kind

    def unknown_key(self):
        return self._unknown_key

    def raw_json(self):
        return self._raw

    def __getattr__(self, accessor):
        # message(), postback(), business()...: the data for this kind only.
        kind = accessor.replace("_", "-")
        return lambda: self._data if kind == self._kind else None


def message(text="hi", quick_reply_payload=None):
    return wit_events.Message("m.1", text, quick_reply_payload, [], None, None)


def postback(payload):
    return wit_events.Postback("Title", payload, None, None)


def business(json_text, kind=None):
    return wit_events.BusinessEvent(kind, json_text)


def run(plugin_cls, event):
    return export(plugin_cls)().handle(event)


class Sends:
    """Records messenger.send calls; a context manager patching it."""

    def __init__(self, result=None, error=None):
        self.calls = []
        self._result = result or m.Sent("42", "mid.1", None)
        self._error = error

    def _send(self, message):
        self.calls.append(message)
        if self._error is not None:
            raise Err(self._error)
        return self._result

    def __enter__(self):
        self._patch = mock.patch.object(m, "send", self._send)
        self._patch.start()
        return self

    def __exit__(self, *exc):
        self._patch.stop()


class OutgoingTests(unittest.TestCase):
    def test_text_is_a_response_with_quick_replies(self):
        w = Outgoing.text("Message #1").quick_reply(QuickReply.text("Reset", "RESET")).to_wit("42")
        self.assertEqual(w.recipient, t.Recipient_Psid("42"))
        self.assertEqual(w.content, m.Content_Text("Message #1"))
        self.assertEqual(w.quick_replies, [m.QuickReply(m.QuickReplyKind.TEXT, "Reset", "RESET", None)])
        self.assertEqual((w.messaging_type, w.tag, w.written_by_human), (m.MessagingType.RESPONSE, None, False))

    def test_update_tag_and_human_agent(self):
        self.assertEqual(Outgoing.text("x").update().to_wit("1").messaging_type, m.MessagingType.UPDATE)
        w = Outgoing.text("x").tag("CUSTOM").to_wit("1")
        self.assertEqual((w.messaging_type, w.tag, w.written_by_human), (m.MessagingType.MESSAGE_TAG, "CUSTOM", False))
        w = Outgoing.text("x").human_agent().to_wit("1")
        self.assertEqual((w.messaging_type, w.tag, w.written_by_human), (m.MessagingType.MESSAGE_TAG, "HUMAN_AGENT", True))
        w = Outgoing.text("x").human_agent().update().to_wit("1")
        self.assertEqual((w.messaging_type, w.tag, w.written_by_human), (m.MessagingType.UPDATE, None, False))

    def test_options(self):
        w = (
            Outgoing.text("x")
            .notification(sp.NotificationType.SILENT_PUSH)
            .metadata("meta")
            .reply_to("m.0")
            .persona("p1")
            .quick_reply(QuickReply.user_email(), QuickReply.text("A", "PA").image_url("https://i/a.png"))
            .to_wit(Recipient.one_time_notif_token("tok"))
        )
        self.assertEqual(w.recipient, t.Recipient_OneTimeNotifToken("tok"))
        self.assertEqual(w.notification_type, m.NotificationType.SILENT_PUSH)
        self.assertEqual((w.metadata, w.reply_to, w.persona_id), ("meta", "m.0", "p1"))
        self.assertEqual(w.quick_replies[0], m.QuickReply(m.QuickReplyKind.USER_EMAIL, None, None, None))
        self.assertEqual(w.quick_replies[1].image_url, "https://i/a.png")

    def test_builders_do_not_change_what_they_start_from(self):
        base = Outgoing.text("x")
        base.quick_reply(QuickReply.text("A", "A")).update()
        w = base.to_wit("1")
        self.assertEqual((w.quick_replies, w.messaging_type), ([], m.MessagingType.RESPONSE))
        menu = Template.button("Pick")
        menu.postback("A", "A")
        self.assertEqual(menu.to_wit(), m.Template_Button(("Pick", [])))

    def test_button_template(self):
        tpl = Template.button("Welcome! Send me anything and I will count.").postback("Show count", "SHOW_COUNT")
        tpl = tpl.web_url("Site", "https://example.com").phone_number("Call", "+15550100")
        self.assertEqual(
            Outgoing.of(tpl).to_wit("42").content,
            m.Content_Template(
                m.Template_Button(
                    (
                        "Welcome! Send me anything and I will count.",
                        [
                            m.Button_Postback(("Show count", "SHOW_COUNT")),
                            m.Button_WebUrl(("Site", "https://example.com")),
                            m.Button_PhoneNumber(("Call", "+15550100")),
                        ],
                    )
                )
            ),
        )

    def test_generic_template_buttons_go_to_the_last_card(self):
        tpl = Template.generic(Element("one", subtitle="1 EUR")).element(Element("two", image_url="https://i/2")).postback(
            "Buy", "BUY"
        )
        cards = tpl.to_wit().value
        self.assertEqual([c.title for c in cards], ["one", "two"])
        self.assertEqual((cards[0].subtitle, cards[1].image_url), ("1 EUR", "https://i/2"))
        self.assertEqual((cards[0].buttons, cards[1].buttons), ([], [m.Button_Postback(("Buy", "BUY"))]))
        card = Element("c").web_url("Open", "https://x").with_button(sp.Button.account_unlink()).to_wit()
        self.assertEqual(card.buttons, [m.Button_WebUrl(("Open", "https://x")), m.Button_AccountUnlink()])

    def test_one_time_notification_request_media_and_raw(self):
        self.assertEqual(
            Template.one_time_notif_request("Back in stock", "restock:lamp").to_wit(),
            m.Template_OneTimeNotifRequest(("Back in stock", "restock:lamp")),
        )
        self.assertEqual(
            Outgoing.of(Media.image_url("https://i/cat.png")).to_wit("1").content,
            m.Content_Media(m.Media(m.MediaKind.IMAGE, "https://i/cat.png", None, False)),
        )
        self.assertEqual(
            Media.attachment(sp.MediaKind.VIDEO, "att1").reusable().to_wit(),
            m.Media(m.MediaKind.VIDEO, None, "att1", True),
        )
        self.assertEqual(Outgoing.raw({"sticker_id": 369239263222822}).to_wit("1").content, m.Content_Raw('{"sticker_id":369239263222822}'))
        self.assertEqual(Outgoing.raw('{"a": 1}').to_wit("1").content, m.Content_Raw('{"a": 1}'))
        self.assertEqual(Template.raw({"template_type": "x"}).to_wit(), m.Template_Raw('{"template_type":"x"}'))
        with self.assertRaises(ValueError):
            Outgoing.raw("[1, 2]")
        with self.assertRaises(ValueError):
            Outgoing.raw("{not json")

    def test_what_can_be_sent(self):
        self.assertEqual(Outgoing.of("hi"), Outgoing.text("hi"))
        with self.assertRaises(TypeError):
            Outgoing.of(42)  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            Outgoing.text("x").to_wit(42)  # type: ignore[arg-type]


class HandlerTests(unittest.TestCase):
    def test_describe(self):
        class Echo(Plugin):
            name, version, event_kinds = "echo", "0.1.0", ["message"]

        self.assertEqual(export(Echo)().describe(), wit_handler.PluginInfo("echo", "0.1.0", ["message"]))

        class Unnamed(Plugin):
            pass

        self.assertEqual(export(Unnamed)().describe(), wit_handler.PluginInfo("Unnamed", "0.0.0", []))

    def test_export_checks_the_plugin(self):
        class Wrong(Plugin):
            event_kinds = "message"

        with self.assertRaises(TypeError):
            export(Wrong)
        with self.assertRaises(TypeError):
            export(object)  # type: ignore[arg-type]

    def test_returning_nothing_continues_and_stop_stops(self):
        class Quiet(Plugin):
            pass

        class Stopper(Plugin):
            def on_message(self, cx, message):
                return Verdict.STOP

        class Odd(Plugin):
            def on_message(self, cx, message):
                return True

        self.assertEqual(run(Quiet, FakeEvent("message", message())), Verdict.CONTINUE)
        self.assertEqual(run(Stopper, FakeEvent("message", message())), Verdict.STOP)
        self.assertIs(sp.STOP, Verdict.STOP)
        with self.assertRaises(Err) as caught:
            run(Odd, FakeEvent("message", message()))
        self.assertIsInstance(caught.exception.value, wit_handler.Failure_Permanent)

    def test_exceptions_are_transient_and_permanent_errors_permanent(self):
        class Flaky(Plugin):
            def on_message(self, cx, message):
                raise RuntimeError("inventory service down")

        class Broken(Plugin):
            def on_message(self, cx, message):
                raise PermanentError("cannot handle this")

        logged = []
        with mock.patch.object(wit_log, "log", lambda level, text: logged.append((level, text))):
            with self.assertRaises(Err) as caught:
                run(Flaky, FakeEvent("message", message()))
        self.assertEqual(caught.exception.value, wit_handler.Failure_Transient("inventory service down"))
        self.assertEqual(logged[0][0], wit_log.Level.ERROR)
        self.assertIn("RuntimeError: inventory service down", logged[0][1])
        with self.assertRaises(Err) as caught:
            run(Broken, FakeEvent("message", message()))
        self.assertEqual(caught.exception.value, wit_handler.Failure_Permanent("cannot handle this"))

    def test_running_out_of_memory_traps(self):
        class Hungry(Plugin):
            def on_message(self, cx, message):
                raise MemoryError()

        with self.assertRaises(MemoryError):
            run(Hungry, FakeEvent("message", message()))

    def test_a_refused_send_is_a_typed_error_and_a_transient_failure(self):
        outcome = {}

        class Replier(Plugin):
            def on_message(self, cx, message):
                try:
                    cx.reply("hi")
                except MessengerError as e:
                    outcome["error"] = e
                    raise

        with Sends(error=t.MessengerError_OutsideWindow()):
            with self.assertRaises(Err) as caught:
                run(Replier, FakeEvent("message", message()))
        self.assertEqual(caught.exception.value, wit_handler.Failure_Transient("outside the 24-hour messaging window"))
        self.assertEqual(outcome["error"].kind, "outside-window")

    def test_dispatch(self):
        seen = []

        class All(Plugin):
            def on_message(self, cx, message):
                seen.append(("message", message.text))

            def on_postback(self, cx, postback):
                seen.append(("postback", postback.payload))

            def on_business(self, cx, event):
                seen.append(("business", event.kind))

            def on_read(self, cx, read):
                seen.append(("read", read.watermark))

            def on_handover(self, cx, handover):
                seen.append(("handover", handover.kind, handover.change or handover.request or handover.app_roles))

            def on_other(self, cx, event):
                seen.append(("other", event.kind, event.unknown_key, event.raw_json()))

        change = wit_events.ThreadControlChange("263902037430900", "1234", None)
        request = wit_events.ThreadControlRequest("999", "please")
        roles = [wit_events.AppRole("1234", ["primary_receiver"])]
        run(All, FakeEvent("message", message("yo")))
        run(All, FakeEvent("postback", postback("GET_STARTED")))
        run(All, FakeEvent("business", business('{"type":"announce"}', "announce"), psid=None))
        run(All, FakeEvent("read", wit_events.Read(5)))
        run(All, FakeEvent("pass-thread-control", change))
        run(All, FakeEvent("take-thread-control", change))
        run(All, FakeEvent("request-thread-control", request))
        run(All, FakeEvent("app-roles", roles))
        run(All, FakeEvent("unknown", unknown_key="messaging_feedback", raw='{"messaging_feedback":{}}'))
        run(All, FakeEvent("from-the-future"))
        run(All, FakeEvent("delivery", wit_events.Delivery([], 1)))  # not overridden: nothing
        self.assertEqual(
            seen,
            [
                ("message", "yo"),
                ("postback", "GET_STARTED"),
                ("business", "announce"),
                ("read", 5),
                ("handover", "pass", change),
                ("handover", "take", change),
                ("handover", "request", request),
                ("handover", "app-roles", roles),
                ("other", "unknown", "messaging_feedback", '{"messaging_feedback":{}}'),
                ("other", "from-the-future", None, '{"x":1}'),
            ],
        )

    def test_context(self):
        got = {}

        class Look(Plugin):
            def handle(self, cx):
                got.update(
                    id=cx.id, page=cx.page_id, psid=cx.psid, standby=cx.standby, ts=cx.timestamp, kind=cx.kind, raw=cx.raw_json()
                )
                cx.reply(Template.button("t").postback("b", "B"))
                cx.send(Recipient.user_ref("ref-1"), "to a user_ref")
                return Verdict.STOP

        with Sends() as sends:
            self.assertEqual(run(Look, FakeEvent("message", message(), standby=True)), Verdict.STOP)
        self.assertEqual(
            got, dict(id="ev-1", page="1001", psid="42", standby=True, ts=1700000000000, kind="message", raw='{"x":1}')
        )
        self.assertEqual([c.recipient for c in sends.calls], [t.Recipient_Psid("42"), t.Recipient_UserRef("ref-1")])

    def test_a_reply_without_a_sender_fails(self):
        class Replier(Plugin):
            def on_business(self, cx, event):
                cx.reply("to whom?")

        with self.assertRaises(Err) as caught:
            run(Replier, FakeEvent("business", business("{}"), psid=None))
        self.assertEqual(caught.exception.value, wit_handler.Failure_Transient("this event has no sender to reply to"))


class ErrorTests(unittest.TestCase):
    def test_graph_errors(self):
        g = t.GraphError(400, 10, 2018300, "(#10) This message is sent outside of allowed window.", "AbC")
        e = MessengerError(t.MessengerError_Graph(g))
        self.assertEqual(str(e), "graph error 10 (subcode 2018300): (#10) This message is sent outside of allowed window.")
        self.assertEqual((e.kind, e.code, e.subcode, e.http_status, e.fbtrace_id), ("graph", 10, 2018300, 400, "AbC"))
        self.assertIs(e.graph, g)
        e = MessengerError(t.MessengerError_Graph(t.GraphError(400, 613, None, "(#613) Rate limit.", None)))
        self.assertEqual(str(e), "graph error 613: (#613) Rate limit.")

    def test_other_messenger_errors(self):
        cases = [
            (t.MessengerError_InvalidRequest("text over 2000 characters"), "invalid-request", "invalid request: text over 2000 characters"),
            (t.MessengerError_Unavailable("timeout"), "unavailable", "Graph API unavailable: timeout"),
            (t.MessengerError_OutsideWindow(), "outside-window", "outside the 24-hour messaging window"),
            (t.MessengerError_NotThreadOwner(), "not-thread-owner", "another app owns the thread"),
            (t.MessengerError_NotificationTokenUsed(), "notification-token-used", "the one-time notification token was already used"),
            (t.MessengerError_NotificationTokenExpired(), "notification-token-expired", "the one-time notification token has expired"),
            (t.MessengerError_PageCircuitOpen(), "page-circuit-open", "the host paused Graph API calls for this Page"),
            (t.MessengerError_QuotaExceeded(), "quota-exceeded", "the plugin used up its host calls for this event"),
        ]
        for wit, kind, text in cases:
            e = MessengerError(wit)
            self.assertEqual((e.kind, str(e), e.code, e.wit), (kind, text, None, wit))
        self.assertEqual(MessengerError(t.MessengerError_InvalidRequest("x")).detail, "x")

    def test_host_calls_raise_typed_errors(self):
        from switchboard_plugin.context import Context, Event

        cx = Context(Event(FakeEvent("message", message())))
        with Sends(error=t.MessengerError_NotThreadOwner()):
            with self.assertRaises(MessengerError) as caught:
                cx.reply("hi")
        self.assertEqual(caught.exception.kind, "not-thread-owner")
        from wit_world.imports import handover, profile

        with mock.patch.object(handover, "pass_thread_control", mock.Mock(side_effect=Err(t.MessengerError_PageCircuitOpen()))) as call:
            with self.assertRaises(MessengerError):
                cx.pass_to_page_inbox("asked for a person")
        call.assert_called_once_with("42", sp.PAGE_INBOX_APP_ID, "asked for a person")
        with mock.patch.object(profile, "get", mock.Mock(return_value="profile")) as call:
            self.assertEqual(cx.user_profile(), "profile")
        call.assert_called_once_with("42")


class KvTests(unittest.TestCase):
    def test_calls_and_conversions(self):
        host = mock.Mock()
        host.get.return_value = b"7"
        host.increment.return_value = 8
        with mock.patch.multiple(wit_kv, get=host.get, set=host.set, increment=host.increment, compare_and_swap=host.cas):
            self.assertEqual(kv.get_str("count:42"), "7")
            self.assertEqual(kv.increment("count:42"), 8)
            kv.set("k", "v", ttl=datetime.timedelta(minutes=1))
            kv.set("k", b"v", ttl=0.0001)
            kv.compare_and_swap("k", None, "new")
        host.increment.assert_called_once_with("count:42", 1)
        self.assertEqual(host.set.call_args_list, [mock.call("k", b"v", 60000), mock.call("k", b"v", 1)])
        host.cas.assert_called_once_with("k", None, b"new", None)
        with self.assertRaises(ValueError):
            kv.set("k", "v", ttl=0)

    def test_errors_are_typed(self):
        with mock.patch.object(wit_kv, "increment", mock.Mock(side_effect=Err(wit_kv.KvError_NotANumber()))):
            with self.assertRaises(KvError) as caught:
                kv.increment("k")
        self.assertEqual(caught.exception.kind, "not-a-number")
        self.assertEqual(str(caught.exception), "key-value increment on a value that is not an integer")
        with mock.patch.object(wit_kv, "set", mock.Mock(side_effect=Err(wit_kv.KvError_TooLarge("value over 65536 bytes")))):
            with self.assertRaises(KvError) as caught:
                kv.set("k", "v")
        self.assertEqual((caught.exception.kind, caught.exception.detail), ("too-large", "value over 65536 bytes"))
        self.assertEqual(str(caught.exception), "key-value limit: value over 65536 bytes")


if __name__ == "__main__":
    unittest.main()
