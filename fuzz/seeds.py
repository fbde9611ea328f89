#!/usr/bin/env python3
"""Writes the fuzz seed corpora (fuzz/seeds/<target>/) from the reference
payloads (tests/payloads/messenger_payloads.json, a copy of
../shared/payloads/) and the example
config. Run it again when those change; the seeds are committed."""
import json, pathlib, hashlib

root = pathlib.Path(__file__).resolve().parent
payloads = json.loads((root / "../tests/payloads/messenger_payloads.json").read_text())
seeds = root / "seeds"

def write(target, data):
    d = seeds / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)

def envelope(event):
    return {"object": "page", "entry": [{"id": "1001", "time": 1764633600000, "messaging": [event]}]}

for p in payloads:
    body = p["payload"]
    if p["name"] == "webhook_text_message_signed":
        raw = body["raw_body"].encode()
        write("envelope", raw)
        h = body["headers"]
        # The target's input: both header values and the body, by lines.
        write("signature", (h["X-Hub-Signature-256"] + "\n" + h["X-Hub-Signature"] + "\n").encode() + raw)
    elif p["name"].startswith("webhook_"):
        if "object" in body:
            write("envelope", json.dumps(body).encode())
        elif "sender" in body or "recipient" in body:
            write("envelope", json.dumps(envelope(body)).encode())
        else:
            for event in body.values():
                write("envelope", json.dumps(envelope(event)).encode())

write("config", (root / "../plugins/switchboard.toml").read_bytes())
write("config", b'[[apps]]\nid = "1"\nsecret = "${SECRET}"\nverify_token = "${SECRET}"\n\n[[pages]]\nid = "2"\napp = "1"\naccess_token = "${SECRET}"\nplugins = ["p.wasm"]\n')
write("config", b'listen = "0.0.0.0:8080"\n[api]\ntoken = "${SECRET:-demo-api-token-change-me}"\n[server]\nmax_connections = 0\n')
for text in [b"\x00" * 64, b"\x01\x02hello world\x05\x06" * 8, bytes(range(256))]:
    write("send_api", text)
