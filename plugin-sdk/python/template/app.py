"""An echo bot: answers text messages, quiet in standby."""

from switchboard_plugin import Plugin, export


class Echo(Plugin):
    name, version, event_kinds = "mybot", "0.1.0", ["message"]

    def on_message(self, cx, message):
        if message.text and not cx.standby:
            cx.reply(f"You said: {message.text}")


Handler = export(Echo)
