"""The phone number to dial: encrypted with $ZUOXI_SECRET_KEY, or not stored at all.

De-duplication needs to compare phone numbers without keeping them: an HMAC of the number, keyed by
the secret when there is one, else by the campaign's random salt (docs/campaigns.md says what that
does and does not protect against).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.fernet import Fernet

SECRET_ENV = "ZUOXI_SECRET_KEY"


def secret() -> str | None:
    return os.environ.get(SECRET_ENV) or None


def _fernet(key: str) -> Fernet:
    # Any passphrase works: Fernet needs 32 url-safe base64 bytes, so the passphrase is hashed to them.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode("utf-8")).digest()))


def encrypt(value: str, key: str | None = None) -> str | None:
    """Ciphertext of `value`, or None (store nothing) when no secret is configured."""
    key = key or secret()
    return _fernet(key).encrypt(value.encode("utf-8")).decode("ascii") if key else None


def decrypt(token: str, key: str | None = None) -> str:
    key = key or secret()
    if not key:
        raise ValueError(f"${SECRET_ENV} is not set: the stored phone numbers cannot be read")
    return _fernet(key).decrypt(token.encode("ascii")).decode("utf-8")


def fingerprint(value: str, salt: str) -> str:
    """HMAC-SHA256 of `value`: equal inputs give equal hashes, and the number is not kept."""
    key = (secret() or salt).encode("utf-8")
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
