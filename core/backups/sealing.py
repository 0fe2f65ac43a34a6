"""What opens and authenticates a sealed archive, and which manifests are accepted (SPEC §8a).

An archive is accepted only when its manifest's MAC was made by one of the configured keys
and its time is the one in its name (a genuine manifest cannot be moved under another name).
An unsealed archive, made before sealing, is refused unless the operator allowed it on the
command line (``--allow-unsealed``; never from Telegram).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.adapters.age_seal import AgeSeal
from core.backups.archive_rules import BackupError, Manifest, UnsealedArchive, parse_name
from core.errors import EncryptionKeyError


@dataclass(frozen=True, repr=False)
class ArchiveSeal:
    """The age seal and the manifest MAC keys (newest first) of the configured master keys."""

    age: AgeSeal
    mac_keys: tuple[bytes, ...]

    def __repr__(self) -> str:
        return f"ArchiveSeal({self.age!r})"


SealSource = Callable[[], ArchiveSeal]  # raises EncryptionKeyError when there is no key


class Seals:
    """Builds the seal once, when first needed (many commands need no key at all)."""

    def __init__(self, source: SealSource) -> None:
        self._source = source
        self._seal: ArchiveSeal | None = None

    def get(self) -> ArchiveSeal:
        """The seal; raises :class:`BackupError` when the master key is missing or malformed."""
        if self._seal is None:
            try:
                self._seal = self._source()
            except EncryptionKeyError as exc:
                raise BackupError(f"no key to seal or open backups: {exc}") from None
        return self._seal

    def acceptor(
        self, name: str, *, allow_unsealed: bool = False
    ) -> Callable[[Manifest], AgeSeal | None]:
        """The check of archive ``name``'s manifest, returning the seal that opens it (None
        for an allowed unsealed archive); it raises :class:`BackupError` to refuse."""

        def accept(manifest: Manifest) -> AgeSeal | None:
            if not manifest.sealed:
                if not allow_unsealed:
                    raise UnsealedArchive()
                return None
            seal = self.get()
            if manifest.made_by(seal.mac_keys) is None:
                raise BackupError(
                    "the manifest's MAC does not match: it was edited, or made under a master "
                    "key that is not configured"
                )
            if manifest.created_at.replace(microsecond=0) != parse_name(name)[0]:
                raise BackupError("the manifest's time is not the one in the archive's name")
            return seal.age

        return accept
