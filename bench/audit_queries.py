"""Audit queries at scale: /activity, /audit and one rule evaluation on 1,000,000 rows.

Run from the repository root (nothing else needed; the database goes to a temp folder):

    python -m bench.audit_queries [--rows 1000000] [--db PATH] [--verify]

The rows are chained exactly like the app chains them (``core.audit.log.row_hash``) but inserted
in bulk through storage (``SqliteAuditRepository.append_many``), so ``verzek audit verify``
passes on the result (``--verify`` runs that check too; it reads every row). One "hot" account
gets 2% of all events, failed logins among them, to show the worst case of a busy subject.
Each query is timed over many runs; the target is < 5 ms for each.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.bootstrap import bootstrap
from core.audit.activity import AuditTarget
from core.audit.chain import ChainKey, ChainKeys, keyed_link
from core.audit.detection import Detector
from core.audit.log import GENESIS_HASH, AuditEvent, EventType
from core.audit.ports import AuditRow
from core.authz import OPERATOR
from core.clock import FakeClock
from core.config import load_settings
from core.crypto import generate_master_key
from core.ports import UnitOfWork
from storage.audit_repository import SqliteAuditRepository

ACCOUNTS = 50_000
HOT_ACCOUNT = 1
SPAN = timedelta(days=90)
BATCH = 50_000
RUNS = 300
TARGET_MS = 5.0
MEDIANS: dict[str, float] = {}  # every timed query's median (ms), for the RESULT line
# (event type, severity, share) of the synthetic traffic.
MIX = [
    (EventType.LOGIN_SUCCESS, "info", 30),
    (EventType.LOGOUT, "info", 20),
    (EventType.LOGIN_FAILED, "warning", 20),
    (EventType.MFA_VERIFIED, "info", 10),
    (EventType.MFA_FAILED, "warning", 5),
    (EventType.API_KEY_ADDED, "info", 3),
    (EventType.API_KEY_DELETED, "info", 2),
    (EventType.SETTINGS_CHANGED, "info", 5),
    (EventType.PAYMENT_SUBMITTED, "info", 4),
    (EventType.ADMIN_ACTION, "warning", 1),
]


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def synthetic_rows(count: int, start: datetime, key: ChainKey, seed: int = 7) -> list[AuditRow]:
    """``count`` chained rows spread over :data:`SPAN` ending at ``start + SPAN``."""
    rng = random.Random(seed)
    kinds = [kind for kind, _, share in MIX for _ in range(share)]
    severity = {kind: sev for kind, sev, _ in MIX}
    step = SPAN / count
    rows: list[AuditRow] = []
    prev = GENESIS_HASH
    for n in range(1, count + 1):
        kind = rng.choice(kinds)
        account = HOT_ACCOUNT if rng.random() < 0.02 else rng.randrange(2, ACCOUNTS)
        draft = AuditRow(
            id=n,
            ts=start + step * n,
            event_type=str(kind),
            severity=severity[kind],
            account_id=account,
            telegram_user_id=1_000_000_000 + account,
            details={"reason": "bad_credentials"} if kind == EventType.LOGIN_FAILED else {},
            prev_hash=prev,
            hash="",
            key_id=key.key_id,
        )
        prev = keyed_link(key, draft)
        rows.append(AuditRow(**{**draft.__dict__, "hash": prev}))
        if n % 200_000 == 0:
            progress(f"  chained {n:,} rows")
    return rows


async def load(unit_of_work: Callable[..., UnitOfWork], rows: list[AuditRow]) -> None:
    for first in range(0, len(rows), BATCH):
        async with unit_of_work() as uow:
            assert isinstance(uow.audit, SqliteAuditRepository)  # append_many is SQLite's own
            await uow.audit.append_many(rows[first : first + BATCH])
            await uow.commit()
        done = min(first + BATCH, len(rows))
        if done % 200_000 == 0 or done == len(rows):
            progress(f"  inserted {done:,} rows")


async def timed(label: str, make: Callable[[int], Awaitable[object]], runs: int = RUNS) -> float:
    samples = []
    for n in range(runs):
        began = time.perf_counter()
        await make(n)
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    median = statistics.median(samples)
    p95 = samples[int(len(samples) * 0.95) - 1]
    verdict = "ok" if median < TARGET_MS else "SLOW"
    print(f"{label:<52} median {median:6.3f} ms   p95 {p95:6.3f} ms   [{verdict}]")
    MEDIANS[label] = median
    return median


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None, help="database file (default: temp)")
    parser.add_argument("--verify", action="store_true", help="also verify the whole chain")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.db"
        if path.exists():
            print(f"{path} exists; give a new path", file=sys.stderr)
            return 2
        env = {"ENCRYPTION_MASTER_KEY": generate_master_key(), "VERZEK_DB": str(path)}
        settings = load_settings(None, env)
        start = datetime(2026, 1, 1, tzinfo=UTC)
        clock = FakeClock(start + SPAN + timedelta(seconds=1))
        # The bot's own wiring: every appended event passes its detector and notifier.
        services = await bootstrap(settings, clock)
        try:
            began = time.perf_counter()
            progress(f"building {args.rows:,} chained audit rows …")
            key = ChainKeys(services.crypto.audit_chain_keys()).current
            rows = synthetic_rows(args.rows, start, key)
            chained = time.perf_counter()
            await load(services.uow, rows)
            print(
                f"built {args.rows:,} rows in {time.perf_counter() - began:.1f} s (chaining "
                f"{chained - began:.1f} s, bulk insert {time.perf_counter() - chained:.1f} s) "
                f"into {path}"
            )
            del rows

            # One rule evaluation on its own, as the audit log runs it for each event.
            detector = Detector(settings.alerts)
            audit, activity = services.audit, services.activity
            rng = random.Random(11)
            accounts = [rng.randrange(2, ACCOUNTS) for _ in range(RUNS)]

            print()
            await timed(
                "/activity, first page (typical account)",
                lambda n: activity.own_page(accounts[n]),
            )
            await timed("/activity, first page (hot account)", lambda n: activity.own_page(1))
            hot_page = await activity.own_page(HOT_ACCOUNT)
            assert hot_page.oldest_id is not None
            await timed(
                "/activity, an older page (hot account)",
                lambda n: activity.own_page(HOT_ACCOUNT, before_id=hot_page.oldest_id),
            )
            await timed(
                "/audit ACCOUNT, first page (typical account)",
                lambda n: activity.target_page(OPERATOR, AuditTarget("account", accounts[n])),
            )
            await timed(
                "/audit ACCOUNT, first page (hot account)",
                lambda n: activity.target_page(OPERATOR, AuditTarget("account", HOT_ACCOUNT)),
            )
            await timed(
                "/audit tg:USER, first page (typical user)",
                lambda n: activity.target_page(
                    OPERATOR, AuditTarget("telegram", 1_000_000_000 + accounts[n])
                ),
            )

            def failed_login(account: int) -> AuditRow:
                return AuditRow(
                    id=args.rows + 1,
                    ts=clock.now(),
                    event_type=str(EventType.LOGIN_FAILED),
                    severity="warning",
                    account_id=account,
                    telegram_user_id=1_000_000_000 + account,
                    details={"reason": "bad_credentials"},
                    prev_hash="",
                    hash="",
                )

            async def evaluate(account: int) -> None:
                async with services.uow(read_only=True) as uow:
                    await detector.evaluate(uow, failed_login(account))

            await timed(
                "rule evaluation: LOGIN_FAILED (typical account)",
                lambda n: evaluate(accounts[n]),
            )
            await timed(
                "rule evaluation: LOGIN_FAILED (hot account)", lambda n: evaluate(HOT_ACCOUNT)
            )
            # The hot account under attack: 1,200 failures in the window (over the count cap).
            attack = [
                AuditEvent(EventType.LOGIN_FAILED, account_id=HOT_ACCOUNT, telegram_user_id=666)
            ] * 1200
            async with services.uow() as uow:
                for event in attack:
                    await audit.append(uow, event)
                await uow.commit()
            await timed(
                "rule evaluation: LOGIN_FAILED (account under attack)",
                lambda n: evaluate(HOT_ACCOUNT),
            )
            service = services.alerts
            await timed(
                "/suspicious (24 h summary, after the attack)", lambda n: service.summary(OPERATOR)
            )
            await timed(
                "append + detect + commit (fsync), one event",
                lambda n: audit.record(
                    AuditEvent(EventType.LOGIN_FAILED, account_id=accounts[n], telegram_user_id=7)
                ),
                runs=100,
            )
            if args.verify:
                began = time.perf_counter()
                report = await audit.verify()
                print(
                    f"\nchain verify: ok={report.ok} rows={report.checked:,} "
                    f"in {time.perf_counter() - began:.1f} s"
                )
                if not report.ok:
                    return 1
        finally:
            await services.aclose()
    slowest = max(MEDIANS, key=MEDIANS.__getitem__)
    met = "met" if MEDIANS[slowest] < TARGET_MS else "MISSED"
    print(
        f"RESULT: slowest median {MEDIANS[slowest]:.3f} ms ({slowest}) on {args.rows:,} rows "
        f"(target < {TARGET_MS:g} ms each: {met})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
