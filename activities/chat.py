"""Chat for staff notices: one Slack-compatible JSON POST to CLAIMS_CHAT_WEBHOOK_URL.

A 2xx answer is sent; a 4xx is permanent (the hook is gone or refuses the message, and
asking again will not change that), but for 408 and 429, which ask to come back; a 5xx, a
timeout or a refused connection is retried later. The URL is a secret of its own (it
grants posting), so it is never logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from activities.mail import DeliveryError
from runtime.errors import UserFacingError

CHAT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_TEXT = 3_000


class ChatSettingsError(UserFacingError):
    """A chat setting that cannot work; the message names the variable."""


@dataclass(frozen=True)
class ChatSettings:
    """The webhook to post to; without one, chat is off."""

    webhook_url: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ChatSettings:
        url = env.get("CLAIMS_CHAT_WEBHOOK_URL") or None
        if url is not None and not url.startswith(("https://", "http://")):
            raise ChatSettingsError(
                "CLAIMS_CHAT_WEBHOOK_URL is not an http(s) URL; set it to the webhook address "
                "your chat gives (https://hooks.slack.com/services/...)"
            )
        return cls(webhook_url=url)

    @property
    def enabled(self) -> bool:
        return self.webhook_url is not None


def chat_text(*, handles: list[str], subject: str, body: str) -> str:
    """The message: who it is for (as mentions), the subject in bold, then the body."""
    mentions = " ".join(f"<@{handle}>" for handle in handles)
    text = f"{mentions} *{subject}*\n{body}".strip()
    return text[:MAX_TEXT]


async def post_chat(settings: ChatSettings, text: str, notice_id: str) -> None:
    """Post once; DeliveryError says whether to try again."""
    if settings.webhook_url is None:
        raise DeliveryError("chat is not configured (CLAIMS_CHAT_WEBHOOK_URL)", permanent=True)
    try:
        async with httpx.AsyncClient(timeout=CHAT_TIMEOUT) as client:
            response = await client.post(
                settings.webhook_url,
                json={"text": text},
                headers={"X-Claims-Notice": notice_id},
            )
    except httpx.TimeoutException:
        raise DeliveryError("chat webhook timed out", permanent=False) from None
    except httpx.HTTPError as error:
        raise DeliveryError(
            f"chat webhook unreachable ({type(error).__name__})", permanent=False
        ) from None
    if 200 <= response.status_code < 300:
        return
    # 408 and 429 ask to come back later; any other 4xx will not change.
    permanent = 400 <= response.status_code < 500 and response.status_code not in {408, 429}
    raise DeliveryError(f"chat webhook answered {response.status_code}", permanent=permanent)
