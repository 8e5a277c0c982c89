"""Server-issued conversation state: signed session ids and signed, expiring context tokens.

Nothing about a conversation is kept on the server: the client holds it in the `context` token
/ask returns and sends it back. A token is only trusted when its HMAC verifies under the server's
key and it has not expired, so a visitor can neither read another's conversation (there is no
server-side conversation to read) nor forge one, and every worker or replica that shares the key
continues the same conversation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from faqbot.errors import FaqbotError

TOKEN_VERSION = "c2"  # c2 added the pending question ("q"); c1 tokens (drug only) are still read
READ_VERSIONS = ("c1", "c2")
SESSION_PREFIX = "s1"
# a session id is "s1" + 16 random bytes + 10 bytes of MAC, base64url: 38 characters of [A-Za-z0-9_-]
_SESSION_RE = re.compile(r"^s1([A-Za-z0-9_-]{22})([A-Za-z0-9_-]{14})$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_secret(configured: str | None, path: Path) -> bytes:
    """The signing key: FAQBOT_SECRET when set, else the key in path, made once (mode 0600) if missing."""
    if configured:
        return configured.encode("utf-8")
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise FaqbotError(f"cannot read the signing key {path} ({exc}); set FAQBOT_SECRET or fix the file's permissions") from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: of several workers starting at once, one writes the key and the others read it
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another worker is writing it right now
            key = path.read_bytes().strip()
            if key:
                return key
            time.sleep(0.01)
        raise FaqbotError(f"the signing key {path} is empty; delete it or set FAQBOT_SECRET") from None
    except OSError as exc:
        raise FaqbotError(f"cannot create the signing key {path} ({exc}); set FAQBOT_SECRET or FAQBOT_DB to a writable folder") from exc
    key = secrets.token_hex(32).encode("ascii")
    with os.fdopen(fd, "wb") as file:
        file.write(key + b"\n")
    return key


@dataclass(frozen=True)
class Context:
    """What a verified token says: the conversation's session id, the drug it is about, and a question
    a clarifying turn left waiting for its drug."""

    session_id: str
    drug: str | None
    pending: str | None = None


class ContextRejected(Exception):
    """A context token that is not trusted; the message is the notice the visitor gets."""


class Conversations:
    """Issues and verifies session ids and context tokens under one key."""

    def __init__(self, key: bytes, ttl_s: float) -> None:
        # separate keys for the two kinds of signature, so one can never pass for the other
        self._token_key = hmac.new(key, b"faqbot context token", hashlib.sha256).digest()
        self._session_key = hmac.new(key, b"faqbot session id", hashlib.sha256).digest()
        self.ttl_s = ttl_s

    def new_session_id(self) -> str:
        nonce = _b64(secrets.token_bytes(16))
        return f"{SESSION_PREFIX}{nonce}{self._session_mac(nonce)}"

    def issued(self, session_id: str) -> bool:
        """Whether this server (or one sharing its key) issued session_id."""
        found = _SESSION_RE.fullmatch(session_id)
        return bool(found) and hmac.compare_digest(found.group(2), self._session_mac(found.group(1)))  # type: ignore[union-attr]

    def _session_mac(self, nonce: str) -> str:
        return _b64(hmac.new(self._session_key, nonce.encode("ascii"), hashlib.sha256).digest()[:10])

    def issue(self, session_id: str, drug: str | None, now: float | None = None, pending: str | None = None) -> str:
        """A token for the conversation's state, valid for ttl_s from now.

        The token is signed, not encrypted: a pending question in it is readable by whoever holds the
        token, which is the visitor who asked it.
        """
        expires = int((time.time() if now is None else now) + self.ttl_s)
        state: dict[str, object] = {"s": session_id, "d": drug, "e": expires}
        if pending:
            state["q"] = pending
        payload = _b64(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        body = f"{TOKEN_VERSION}.{payload}"
        return f"{body}.{_b64(hmac.new(self._token_key, body.encode('ascii'), hashlib.sha256).digest())}"

    def verify(self, token: str, now: float | None = None) -> Context:
        """The state a token carries; raises ContextRejected for a forged, altered, foreign or expired one."""
        untrusted = ContextRejected(
            "The conversation context sent with this question was not issued by this server or was altered, "
            "so it was ignored: this question was answered on its own. Send back the context the last answer returned."
        )
        parts = token.split(".")
        if len(parts) != 3 or parts[0] not in READ_VERSIONS or not token.isascii():
            raise untrusted
        expected = _b64(hmac.new(self._token_key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest())
        if not hmac.compare_digest(parts[2], expected):
            raise untrusted
        try:
            data = json.loads(_unb64(parts[1]))
            session_id, drug, expires = str(data["s"]), data["d"], float(data["e"])
            pending = data.get("q")
        except (ValueError, KeyError, TypeError) as exc:  # signed by us, so only an old format gets here
            raise untrusted from exc
        if expires < (time.time() if now is None else now):
            minutes = max(1, round(self.ttl_s / 60))
            raise ContextRejected(
                f"This conversation expired after {minutes} minutes without a question, so its drug was forgotten: "
                "this question was answered on its own. Name the drug to continue."
            )
        return Context(session_id, drug if isinstance(drug, str) else None, pending if isinstance(pending, str) else None)
