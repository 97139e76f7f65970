"""Secrets kept at rest (TOTP seeds, platform tokens) encrypted with Fernet (AES-128-CBC and
HMAC-SHA256, from `cryptography`).

Keys come from DESK_ENCRYPTION_KEYS: comma-separated Fernet keys; the first encrypts and all
decrypt, so a key is rotated by putting a new one first. Without it, one key is derived from
DESK_SECRET_KEY with HKDF, so a one-machine desk works out of the box; changing the secret key
then makes stored secrets unreadable, which the README says.
"""
import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from desk.core.errors import DeskError


class UnreadableSecret(DeskError):
    """A stored secret that none of the configured keys decrypts (a key was removed)."""


def _fernet() -> MultiFernet:
    config = current_app.config
    keys = [key.strip() for key in (config.get("ENCRYPTION_KEYS") or "").split(",") if key.strip()]
    if not keys:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"desk-encryption",
                       info=b"secrets at rest").derive(config["SECRET_KEY"].encode())
        keys = [base64.urlsafe_b64encode(derived).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(plain: str) -> str:
    """The text encrypted with the current key (URL-safe ASCII)."""
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    """The text back; UnreadableSecret if no configured key opens it."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise UnreadableSecret("a stored secret cannot be decrypted with DESK_ENCRYPTION_KEYS") from None
