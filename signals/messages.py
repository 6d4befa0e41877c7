"""What a human sends to a claim. Loose on the wire, strict in the handler.

Signals arrive as plain JSON objects (the `temporal` CLI and the web UI send whatever
is typed), so the workflow validates them itself and records refusals instead of
letting the SDK drop a payload that does not fit.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class DecisionPayload(BaseModel):
    """`approve` / `reject`: who decides, and why."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    approver: str = Field(min_length=1, max_length=64)
    comment: str = Field(default="", max_length=2000)

    @field_validator("approver")
    @classmethod
    def _no_spaces(cls, value: str) -> str:
        if any(c.isspace() for c in value):
            raise ValueError("approver is a directory name without spaces, such as 'maria'")
        return value
