"""The audit chain's keys for tests that build an :class:`~core.audit.log.AuditLog` by hand."""

from __future__ import annotations

from collections.abc import Callable

from core.audit.chain import ChainKeys
from core.config import EncryptionSettings, Secret
from core.crypto import EncryptionService

# A fixed master key for such tests (a CLI run in the same test sets it as
# ENCRYPTION_MASTER_KEY, so both chain under the same key).
TEST_MASTER_KEY = "dGVzdC1hdWRpdC1jaGFpbi1rZXktMzItYnl0ZXMhISE="


def chain_keys(master_key: str = TEST_MASTER_KEY, *old_keys: str) -> Callable[[], ChainKeys]:
    """What bootstrap's ``chain_keys`` gives for these master keys (newest first)."""
    crypto = EncryptionService(
        EncryptionSettings(Secret(master_key), tuple(Secret(key) for key in old_keys))
    )
    keys = ChainKeys(crypto.audit_chain_keys(), crypto)
    return lambda: keys
