"""A local S3 (moto's server, on a free loopback port, no network) and the steps of the
off-site tests: bot settings with ``backups.offsite``, the nightly job run now, the bucket read.

The AWS credentials are the environment's, as in production (boto3's standard chain), and are
fake: moto accepts any. Tests look for them in everything the bot says, logs and stores.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from telegram.ext import CallbackContext

from bot.jobs.backups import JOB_NAME, nightly_backup
from core.config import Settings, load_settings
from tests.support.harness import BotHarness

ACCESS_KEY = "AKIAVERZEKOFFSITE01"
SECRET_KEY = "offsite-SECRET-9f3c1d7e5b2a48c6"
BUCKET = "verzek-backups"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalS3:
    endpoint: str
    server: ThreadedMotoServer | None

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint)

    def keys(self, bucket: str = BUCKET) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def body(self, key: str, bucket: str = BUCKET) -> bytes:
        return bytes(self.client().get_object(Bucket=bucket, Key=key)["Body"].read())

    def put(self, key: str, data: bytes = b"x", bucket: str = BUCKET) -> None:
        self.client().put_object(Bucket=bucket, Key=key, Body=data)


def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The standard AWS environment, and nothing from the machine's own ~/.aws."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def local_s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LocalS3]:
    """Start moto's S3 on a free port with the bucket made; stop it afterwards."""
    aws_env(monkeypatch, tmp_path)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    s3 = LocalS3(f"http://127.0.0.1:{port}", server)
    try:
        # moto keeps its buckets in process-wide state: start each test from an empty store.
        httpx.post(f"{s3.endpoint}/moto-api/reset").raise_for_status()
        s3.client().create_bucket(Bucket=BUCKET)
        yield s3
    finally:
        server.stop()


def offsite_settings(
    env: dict[str, str], tmp_path: Path, offsite: str, endpoint: str | None = None
) -> Settings:
    """The tests' usual settings with ``backups.offsite`` (and the S3 endpoint)."""
    config = tmp_path / "config.toml"
    endpoint_line = f's3_endpoint_url = "{endpoint}"\n' if endpoint else ""
    config.write_text(
        '[security]\ncaptcha = false\n[rate_limits]\nauth = "1000/minute"\n'
        f'[backups]\ndir = "{tmp_path / "backups"}"\noffsite = "{offsite}"\n{endpoint_line}'
    )
    return load_settings(config, env)


async def nightly(bot: BotHarness) -> None:
    """The nightly backup job, run now through its JobQueue entry."""
    await nightly_backup(job_context(bot))


def job_context(bot: BotHarness) -> CallbackContext:
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name(JOB_NAME)
    return CallbackContext.from_job(job, bot.app)


def archives(settings: Settings) -> list[str]:
    return sorted(p.name for p in settings.backups.dir.glob("verzek-*.tar.gz"))
