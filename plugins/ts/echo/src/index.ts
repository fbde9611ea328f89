import { definePlugin } from "@switchboard/plugin-sdk";

export const handler = definePlugin({
  name: "echo", version: "0.1.0", eventKinds: ["message"],
  onMessage(cx, message) {
    if (message.text && !cx.standby) cx.reply(`You said: ${message.text}`);
  },
});
