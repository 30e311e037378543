"""A real SMTP server (aiosmtpd) on a loopback port that appends each message it takes
to a JSON-lines file, flushed and synced before it answers 250: a message it accepted is
on disk even if it is killed right after. Usage: smtp_sink.py PORT FILE; prints READY."""

import json
import os
import sys
import time
from email import message_from_bytes
from email.header import decode_header, make_header

from aiosmtpd.controller import Controller

port, path = int(sys.argv[1]), sys.argv[2]


class Sink:
    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content)
        record = {"key": message.get("X-Twin-Idempotency-Key"), "subject": str(make_header(decode_header(message["Subject"] or ""))),
                  "to": envelope.rcpt_tos}
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return "250 OK"


controller = Controller(Sink(), hostname="127.0.0.1", port=port)
controller.start()
print("READY", flush=True)
while True:
    time.sleep(3600)
