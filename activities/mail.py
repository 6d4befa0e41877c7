"""Email for notices: SMTP sending (standard library smtplib, in a thread) and a local sink.

Settings come from CLAIMS_SMTP_* and CLAIMS_MAIL_FROM. Every header is built by
`email.message.EmailMessage`, which refuses a value holding CR or LF, and each address is
checked before that, so no subject or recipient can add a header. The password is held
out of every repr and log line.

An SMTP answer in the 5xx range is permanent (the address or message is refused for
good); 4xx answers, refused connections and timeouts are worth retrying later.

`MailSink` is the development server `claims run` starts: it accepts any message on a
local port and writes it to a directory as an .eml file, so a newcomer can open the
reminder a claim sent. It needs `aiosmtpd`, imported only when a sink starts.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

from runtime.errors import UserFacingError
from runtime.text import printable

SMTP_TIMEOUT_SECONDS = 20.0
# Where `claims run`'s sink writes mail, under the data directory.
SINK_DIR_NAME = "mail"
DEFAULT_MAIL_FROM = "claims@example.com"
# One address: no whitespace or control characters, one @, a dot-free local part allowed.
# Always fullmatch: `$` alone also matches before a trailing line break.
_ADDRESS = re.compile(r"^[^\s@<>(),;:\"\[\]\\]{1,64}@[A-Za-z0-9.-]{1,253}$")
MAX_SUBJECT = 200


class MailSettingsError(UserFacingError):
    """An SMTP setting that cannot work; the message names the variable."""


class DeliveryError(Exception):
    """A delivery that did not happen; `permanent` when retrying cannot help."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class MailSettings:
    """Where and as whom to send. Without a host, email is off."""

    host: str | None = None
    port: int = 25
    starttls: bool = False
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    mail_from: str = DEFAULT_MAIL_FROM

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MailSettings:
        raw_port = env.get("CLAIMS_SMTP_PORT", "")
        starttls_raw = env.get("CLAIMS_SMTP_STARTTLS", "").strip().lower()
        if starttls_raw not in {"", "0", "1", "true", "false", "yes", "no", "on", "off"}:
            raise MailSettingsError(
                f"CLAIMS_SMTP_STARTTLS={printable(starttls_raw)!r} is not known; use true or false"
            )
        starttls = starttls_raw in {"1", "true", "yes", "on"}
        try:
            port = int(raw_port) if raw_port else (587 if starttls else 25)
        except ValueError:
            raise MailSettingsError(
                f"CLAIMS_SMTP_PORT={printable(raw_port)!r} is not a port number; use 1-65535"
            ) from None
        if not 0 < port < 65536:
            raise MailSettingsError(f"CLAIMS_SMTP_PORT={port} is out of range; use 1-65535")
        mail_from = env.get("CLAIMS_MAIL_FROM") or DEFAULT_MAIL_FROM
        if not _ADDRESS.fullmatch(mail_from):
            raise MailSettingsError(
                f"CLAIMS_MAIL_FROM={printable(mail_from)!r} is not one email address; "
                "use a plain address such as claims@example.com"
            )
        return cls(
            host=env.get("CLAIMS_SMTP_HOST") or None,
            port=port,
            starttls=starttls,
            user=env.get("CLAIMS_SMTP_USER") or None,
            password=env.get("CLAIMS_SMTP_PASSWORD") or None,
            mail_from=mail_from,
        )

    @property
    def enabled(self) -> bool:
        return self.host is not None


def check_address(address: str) -> str:
    """The address if it is one plain email address; a permanent DeliveryError if not."""
    if not _ADDRESS.fullmatch(address):
        raise DeliveryError(
            f"recipient {printable(address)[:80]!r} is not one plain email address "
            "(line breaks, spaces and lists are refused)",
            permanent=True,
        )
    return address


def message_id(notice_id: str, mail_from: str) -> str:
    """The Message-ID of a notice: the same on every resend, so a duplicate is recognisable."""
    domain = mail_from.rpartition("@")[2] or "claims.invalid"
    return f"<{notice_id}@{domain}>"


def build_message(
    *, notice_id: str, mail_from: str, to: list[str], subject: str, body: str
) -> EmailMessage:
    """The notice as an email; DeliveryError (permanent) for any header it cannot carry."""
    for address in to:
        check_address(address)
    if not to:
        raise DeliveryError("the notice has no email recipient", permanent=True)
    if len(subject) > MAX_SUBJECT:
        raise DeliveryError(f"subject longer than {MAX_SUBJECT} characters", permanent=True)
    message = EmailMessage()
    try:
        message["Message-ID"] = message_id(notice_id, mail_from)
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["From"] = mail_from
        message["To"] = ", ".join(to)
        message["Subject"] = subject
        message["X-Claims-Notice"] = notice_id
    except ValueError:
        raise DeliveryError(
            "a header (subject or notice id) holds a line break; refused so it cannot add headers",
            permanent=True,
        ) from None
    message.set_content(body)
    return message


def _send_blocking(settings: MailSettings, message: EmailMessage) -> None:
    assert settings.host is not None
    with smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        smtp.send_message(message)


def _classified(error: Exception) -> DeliveryError:
    """What a failed send means for the next attempt, in words that hold no secret."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in error.recipients.values()})
        permanent = all(code >= 500 for code in codes)
        return DeliveryError(f"every recipient refused (SMTP {codes})", permanent=permanent)
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return DeliveryError(
            f"SMTP login refused ({error.smtp_code}); check CLAIMS_SMTP_USER and "
            "CLAIMS_SMTP_PASSWORD",
            permanent=False,
        )
    if isinstance(error, smtplib.SMTPResponseException):
        return DeliveryError(
            f"SMTP answered {error.smtp_code}", permanent=500 <= error.smtp_code < 600
        )
    if isinstance(error, smtplib.SMTPException | OSError):
        return DeliveryError(f"SMTP server unreachable ({type(error).__name__})", permanent=False)
    return DeliveryError(f"SMTP send failed ({type(error).__name__})", permanent=False)


async def send_mail(settings: MailSettings, message: EmailMessage) -> None:
    """Send one message; DeliveryError says whether to try again."""
    try:
        await asyncio.to_thread(_send_blocking, settings, message)
    except Exception as error:  # every failure is classified, none escapes as a crash
        raise _classified(error) from None


def _file_name(message_id_header: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", message_id_header.strip("<>"))[:120] or "message"


class _SinkHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        content: bytes = envelope.original_content or envelope.content
        found = re.search(rb"^Message-ID:\s*(\S+)", content, re.IGNORECASE | re.MULTILINE)
        base = _file_name(found.group(1).decode("ascii", "replace") if found else "no-id")
        path = self.directory / f"{base}.eml"
        copy = 1
        while path.exists():  # a resend keeps both, so duplicates stay visible
            copy += 1
            path = self.directory / f"{base}.{copy}.eml"
        path.write_bytes(content)
        return "250 Message accepted for delivery"


class MailSink:
    """A local SMTP server that writes every message it receives to `directory` as .eml."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.directory = directory
        self.host = host
        self.port = port
        self._controller: Any = None

    def start(self) -> MailSink:
        import logging

        from aiosmtpd.controller import Controller

        from runtime.ports import free_port

        # aiosmtpd logs every connection at INFO from its own thread: chatter, not news.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port(self.host)
        self._controller = Controller(
            _SinkHandler(self.directory), hostname=self.host, port=self.port
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def settings(self, mail_from: str = DEFAULT_MAIL_FROM) -> MailSettings:
        """Mail settings that send to this sink."""
        return MailSettings(host=self.host, port=self.port, mail_from=mail_from)


def sink_files(directory: Path, notice_id: str) -> list[Path]:
    """The .eml files the sink wrote for a notice (more than one: it was sent again)."""
    if not directory.is_dir():
        return []
    return sorted(directory.glob(f"{_file_name(notice_id)}_*.eml"))
