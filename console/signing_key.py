"""The console's own signing key: it signs what a signed-in person did, after sign-in.

Made once in the data directory (the private half readable by its owner only); the
public half sits beside it, where the worker reads it into every review's trusted keys,
so `claims show` marks the console's decisions `verified by <key id>`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime.errors import UserFacingError
from signals.signing import (
    SignatureError,
    load_private_key,
    new_key_pair,
    new_nonce,
    public_key_id,
    public_text,
    sign_payload,
)


class ConsoleKeyError(UserFacingError):
    """The console's key file is unusable; the message names it and what to do."""


@dataclass(frozen=True)
class ConsoleKey:
    key: Ed25519PrivateKey
    key_id: str

    def sign(
        self, payload: dict[str, Any], *, claim_id: str, action: str, now: datetime
    ) -> dict[str, Any]:
        """The payload with the console's signature over it, a fresh nonce each time."""
        return dict(
            sign_payload(
                payload,
                claim_id=claim_id,
                action=action,
                key=self.key,
                key_id=self.key_id,
                issued_at=now,
                nonce=new_nonce(),
            )
        )


def load_or_create_console_key(private_file: Path, public_file: Path) -> ConsoleKey:
    """The console's key pair, made on first use; the public half is (re)written beside it."""
    if not private_file.exists():
        private_file.parent.mkdir(parents=True, exist_ok=True)
        pem, _public = new_key_pair()
        descriptor = os.open(private_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
    mode = private_file.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConsoleKeyError(
            f"the console's private key {private_file} is readable by others (mode "
            f"{mode:o}); run chmod 600 {private_file}, or remove it to make a new key"
        )
    try:
        key = load_private_key(private_file)
    except SignatureError as error:
        raise ConsoleKeyError(
            f"{error}; remove {private_file} to make a new console key (decisions it signed "
            "stay verifiable only while its public key is kept in the approvers file)"
        ) from None
    public = public_text(key)
    if not public_file.exists() or public_file.read_text(encoding="ascii").strip() != public:
        public_file.write_text(public + "\n", encoding="ascii")
    return ConsoleKey(key=key, key_id=public_key_id(public))
