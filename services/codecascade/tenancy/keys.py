"""API keys: made once, shown once, stored only as a hash.

A key is `cc_` followed by 32 random bytes from `secrets.token_urlsafe` (256 bits). The tenants
file keeps only `sha256(key)`. A plain, unsalted, fast hash is the right tool here and a password
hash (bcrypt, scrypt, argon2) is not: those exist to slow down guessing of *low-entropy* secrets
chosen by people. A 256-bit random key cannot be guessed whatever the hash costs, so salting and
stretching add nothing but latency on every call, while an unsalted digest lets the edge find the
key's record with one dictionary lookup (and the comparison of a digest leaks nothing useful
about the key through timing).
"""

from __future__ import annotations

import hashlib
import secrets
import ssl

__all__ = ["KEY_PREFIX", "bearer_key", "cert_fingerprint", "hash_key", "new_key", "new_key_id"]

KEY_PREFIX = "cc_"
_KEY_BYTES = 32
_MIN_KEY_CHARS = len(KEY_PREFIX) + 16


def new_key() -> str:
    """A fresh API key (show it once; store `hash_key(key)`)."""
    return KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)


def new_key_id() -> str:
    """A short public id for a key, to name it in the file and in `cascade tenants revoke`."""
    return "key-" + secrets.token_hex(4)


def hash_key(key: str) -> str:
    """The hex sha256 of a key: what the tenants file stores (see the module docstring)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def bearer_key(authorization: str | None) -> str | None:
    """The key in an `authorization: Bearer <key>` value; None when it is not of that form."""
    if not authorization:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or len(key) < _MIN_KEY_CHARS or " " in key:
        return None
    return key


def cert_fingerprint(pem: str) -> str:
    """The hex sha256 of a certificate's DER bytes: how the tenants file names a client cert
    (`openssl x509 -noout -fingerprint -sha256`, without the colons, in lower case)."""
    try:
        der = ssl.PEM_cert_to_DER_cert(pem.strip() + "\n")
    except ValueError as exc:
        raise ValueError(f"not a PEM certificate: {exc}") from exc
    return hashlib.sha256(der).hexdigest()
