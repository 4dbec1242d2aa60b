"""A throwaway SMTP server for the email destination's tests (Debian's python3-aiosmtpd).

Usage: python3 email.smtp-server.py DIR MODE TLS [CERT KEY] [USER PASSWORD]
  MODE: accept | 550 | 451 (the reply to DATA)
  TLS:  none | starttls | tls
Writes each message it accepts to DIR/<n>.eml (the bytes received after DATA), prints
"PORT <n>" once listening on 127.0.0.1 (a free port), and runs until killed.
"""
import asyncio
import os
import socket
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

out_dir, mode, tls = sys.argv[1], sys.argv[2], sys.argv[3]
rest = sys.argv[4:]
cert = key = user = password = None
if tls != "none":
    cert, key, rest = rest[0], rest[1], rest[2:]
if rest:
    user, password = rest[0], rest[1]


class Handler:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        if mode == "550":
            return "550 5.7.1 refused by policy"
        if mode == "451":
            return "451 4.3.0 try again later"
        self.count += 1
        path = os.path.join(out_dir, f"{self.count}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(f"X-Envelope-From: {envelope.mail_from}\r\n".encode())
            f.write(f"X-Envelope-To: {','.join(envelope.rcpt_tos)}\r\n".encode())
            f.write(envelope.original_content)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == user
        and auth_data.password.decode() == password
    )
    return AuthResult(success=ok, handled=False)


context = None
if tls != "none":
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

kwargs = {"hostname": "127.0.0.1", "port": 0}
if user is not None:
    kwargs.update(authenticator=authenticator, auth_require_tls=tls != "none", auth_required=True)
if tls == "starttls":
    kwargs.update(tls_context=context, require_starttls=True)
elif tls == "tls":
    kwargs.update(ssl_context=context)

# A free port: bind one to learn it, then hand it to the controller.
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
kwargs["port"] = port

controller = Controller(Handler(), **kwargs)
controller.start()
print(f"PORT {port}", flush=True)
try:
    asyncio.get_event_loop().run_forever()
except KeyboardInterrupt:
    pass
finally:
    controller.stop()
