"""Off-site copies in an S3-compatible store, through boto3 (SPEC §8a).

Credentials come from boto3's standard chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE``, ``~/.aws/credentials``, an instance role), never from our config file, and
they never appear in what this module reports: problems carry the service's error code and
operation, and are scrubbed of the session's keys all the same. boto3 blocks, so every call
runs in a worker thread (``asyncio.to_thread``); the upload streams the file from disk
(multipart above 64 MB), so an archive never sits in memory whole.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from core.backups.archive_rules import NAME_RE
from core.backups.offsite import OffsiteError, OffsiteKind, OffsiteTarget

MULTIPART_ABOVE = 64 * 1024 * 1024
CONTENT_TYPE = "application/gzip"


class S3Store:
    """:class:`core.backups.offsite.OffsiteStore` for ``s3://bucket/prefix``."""

    def __init__(self, target: OffsiteTarget, endpoint_url: str | None = None) -> None:
        if target.kind is not OffsiteKind.S3:
            raise ValueError("an S3 store needs an s3:// target")
        self._target = target
        self._endpoint_url = endpoint_url
        self._client: Any = None
        self._secrets: tuple[str, ...] = ()
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Store({self._target.describe()!r})"

    # --- the port --------------------------------------------------------------------------

    async def put(self, path: Path, name: str, size: int) -> str:
        """Upload the archive as ``prefix + name`` and check the store holds ``size`` bytes."""
        return await asyncio.to_thread(self._call, "upload", self._put, path, name, size)

    async def names(self) -> list[str] | None:
        """Archive names directly under the prefix (deeper keys and other files are left out)."""
        names: list[str] = await asyncio.to_thread(self._call, "list", self._names)
        return names

    async def delete(self, name: str) -> None:
        """Delete the copy of ``name`` (only ever an archive's name under the prefix)."""
        if not NAME_RE.fullmatch(name):
            raise OffsiteError(f"{name!r} is not an archive name; not deleted")
        await asyncio.to_thread(self._call, "delete", self._delete, name)

    # --- blocking work (worker threads) ----------------------------------------------------

    def _s3(self) -> Any:
        with self._client_lock:
            if self._client is None:
                session = boto3.session.Session()
                credentials = session.get_credentials()
                if credentials is not None:
                    frozen = credentials.get_frozen_credentials()
                    self._secrets = tuple(
                        s for s in (frozen.secret_key, frozen.token, frozen.access_key) if s
                    )
                self._client = session.client(
                    "s3",
                    endpoint_url=self._endpoint_url,
                    config=Config(
                        connect_timeout=10,
                        read_timeout=60,
                        retries={"max_attempts": 3, "mode": "standard"},
                    ),
                )
            return self._client

    def _put(self, path: Path, name: str, size: int) -> str:
        s3, key = self._s3(), self._target.key(name)
        s3.upload_file(
            str(path),
            self._target.bucket,
            key,
            ExtraArgs={"ContentType": CONTENT_TYPE},
            Config=TransferConfig(multipart_threshold=MULTIPART_ABOVE, use_threads=False),
        )
        head = s3.head_object(Bucket=self._target.bucket, Key=key)
        if int(head.get("ContentLength", -1)) != size:
            raise OffsiteError(f"the store holds {head.get('ContentLength')} bytes, not {size}")
        return f"s3://{self._target.bucket}/{key}"

    def _names(self) -> list[str]:
        s3, prefix = self._s3(), self._target.prefix
        found: list[str] = []
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._target.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                rest = str(item["Key"])[len(prefix) :]
                if NAME_RE.fullmatch(rest):
                    found.append(rest)
        return found

    def _delete(self, name: str) -> None:
        self._s3().delete_object(Bucket=self._target.bucket, Key=self._target.key(name))

    def _call(self, what: str, work: Any, *args: Any) -> Any:
        """Run ``work``; every boto3 failure becomes an :class:`OffsiteError` without secrets."""
        where = self._target.describe()
        try:
            return work(*args)
        except OffsiteError:
            raise
        except (ClientError, Boto3Error, BotoCoreError, OSError) as exc:
            # upload_file wraps the service's answer in S3UploadFailedError: use the answer.
            cause = exc.__cause__ or exc.__context__
            refused = exc if isinstance(exc, ClientError) else cause
            if isinstance(refused, ClientError):
                error = refused.response.get("Error", {})
                code, message = str(error.get("Code", "?")), str(error.get("Message", ""))
                problem = f"{what} to {where} refused: {code} {message}".strip()
            else:
                problem = f"{what} to {where} failed: {type(exc).__name__}: {exc}"
        raise OffsiteError(self._scrub(problem)[:300]) from None

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text
