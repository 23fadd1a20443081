"""The phone number: encrypted for dialling, and looked up by a keyed hash, both under $ZUOXI_SECRET_KEY.

A database holding a phone's last four digits beside an unkeyed (or salted-in-the-database) hash
leaks the number: under a million candidates share a tail, and each can be tested offline in about a
second. So nothing stored here can test a guess without the secret: the number is Fernet-encrypted
and the de-duplication / do-not-call hash is an HMAC, both under keys derived from the secret, which
is never stored. docs/campaigns.md states the threat model.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from base64 import urlsafe_b64encode
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from zuoxi.campaigns.models import CampaignError

SECRET_ENV = "ZUOXI_SECRET_KEY"  # noqa: S105 - the name of the variable that holds the key, not a key
MIN_SECRET_LENGTH = 32  # e.g. `python -c "import secrets; print(secrets.token_urlsafe(32))"`: ~190 bits


class VaultError(CampaignError):
    pass


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"zuoxi campaigns " + purpose).derive(
        secret.encode()
    )


class Vault:
    """Encryption and lookup keys derived from one secret (HKDF), never the secret itself."""

    def __init__(self, secret: str):
        if len(secret) < MIN_SECRET_LENGTH:
            raise VaultError(
                f"${SECRET_ENV} 太短（{len(secret)} 个字符）：至少要 {MIN_SECRET_LENGTH} 个随机字符，才猜不出来"
            )
        self._fernet = Fernet(urlsafe_b64encode(_derive(secret, b"phone encryption")))
        self._lookup = _derive(secret, b"phone lookup")

    def encrypt(self, phone: str) -> str:
        return self._fernet.encrypt(phone.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except InvalidToken:
            raise VaultError(f"这个电话号码是用另一个 ${SECRET_ENV} 加密的，现在的密钥解不开") from None

    def lookup(self, phone: str) -> str:
        """HMAC-SHA256 of the number: equal numbers match (duplicates, do-not-call), guesses cannot be tested."""
        return hmac.new(self._lookup, phone.encode(), hashlib.sha256).hexdigest()


@lru_cache(maxsize=4)
def _vault(secret: str) -> Vault:
    return Vault(secret)


def vault(secret: str | None = None) -> Vault:
    """The vault of `secret`, else of $ZUOXI_SECRET_KEY; VaultError when there is none."""
    secret = secret or os.environ.get(SECRET_ENV)
    if not secret:
        raise VaultError(
            f"没有设置 ${SECRET_ENV}：电话号码只用它加密后保存"
            '（见 docs/campaigns.md 的 "Call lists and personal data" 一节）'
        )
    return _vault(secret)
