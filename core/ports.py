"""What core needs from storage, as Protocols.

Services depend on these interfaces only; ``storage/`` implements them for SQLite. Nothing here
mentions SQL, cursors or SQLite, so a PostgreSQL implementation can be added without touching
``core/``.

Transactions belong to services: ``async with uow_factory() as uow: ...; await uow.commit()``.
Leaving the block without ``commit()`` rolls everything back. Repositories never commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

from core.signing import SignedFields


@dataclass(frozen=True)
class AuditRow:
    """One stored audit event, exactly as hashed."""

    id: int
    ts: str
    event_type: str
    severity: str
    account_id: int | None
    telegram_user_id: int | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditHead:
    """The newest link of the chain, kept separately so a deleted tail is detected."""

    last_id: int
    last_hash: str


@dataclass(frozen=True)
class EncryptedColumn:
    """A column holding tokens made by the encryption service."""

    table: str
    column: str
    purpose: str


@dataclass(frozen=True)
class EncryptedValue:
    """One stored token with the row it belongs to."""

    row_id: int
    owner: int | str
    token: str


class AuditRepository(Protocol):
    """Append-only storage of the audit chain."""

    async def head(self) -> AuditHead | None:
        """Return the newest link, or None for an empty log."""
        ...

    async def append(self, row: AuditRow) -> None:
        """Store ``row`` and make it the head."""
        ...

    def iter_rows(self, *, since: str | None = None, batch: int = 5000) -> AsyncIterator[AuditRow]:
        """Yield every row in id order (optionally from a timestamp on), in batches."""
        ...


class SecretsRepository(Protocol):
    """Access to every encrypted column, for key rotation."""

    def columns(self) -> list[EncryptedColumn]:
        """Every column that holds encrypted values."""
        ...

    def iter_values(self, column: EncryptedColumn) -> AsyncIterator[EncryptedValue]:
        """Yield each non-empty value of ``column``."""
        ...

    async def replace(self, column: EncryptedColumn, row_id: int, token: str) -> None:
        """Overwrite one value (same row, new token)."""
        ...


@dataclass(frozen=True)
class SignedTable:
    """A table whose rows carry an HMAC signature over ``fields`` (see core/signing.py)."""

    table: str
    fields: SignedFields


@dataclass(frozen=True)
class SignedRow:
    """One row that must carry a signature: its signed fields as stored, and the signature."""

    row_id: int
    values: Mapping[str, Any]
    signature: str | None


class SignaturesRepository(Protocol):
    """Access to every signed table, for re-signing under a new key (``verzek rotate-key``)."""

    def tables(self) -> list[SignedTable]:
        """Every table whose rows are signed."""
        ...

    def iter_rows(self, table: SignedTable) -> AsyncIterator[SignedRow]:
        """Yield each row that carries, or must carry, a signature, in id order."""
        ...

    async def replace(self, table: SignedTable, row_id: int, signature: str) -> None:
        """Overwrite one row's signature."""
        ...


class KeyCheckRepository(Protocol):
    """The stored proof of which master key the database belongs to (core/keycheck.py)."""

    async def get(self) -> str | None:
        """The stored check, or None when none was written yet."""
        ...

    async def put(self, mac: str, written_at: str) -> None:
        """Store or replace the check."""
        ...


class UnitOfWork(Protocol):
    """One database transaction and the repositories that work inside it."""

    audit: AuditRepository
    secrets: SecretsRepository
    signatures: SignaturesRepository
    accounts: AccountsRepository
    sessions: SessionsRepository
    security: SecurityRepository
    audit_search: AuditSearchRepository
    alerts: AlertsRepository
    notices: NoticesRepository
    restore_notices: RestoreNoticesRepository
    twofactor: TwoFactorRepository
    apikeys: ApiKeysRepository
    safety: SafetyRepository
    payments: PaymentsRepository
    licenses: LicensesRepository
    wallet: WalletRepository
    withdrawals: WithdrawalsRepository
    stats: StatsRepository
    key_check: KeyCheckRepository
    conversation_state: ConversationStateRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None:
        """Make the work durable."""
        ...

    async def rollback(self) -> None:
        """Undo everything done in this unit."""
        ...


UnitOfWorkFactory = Callable[..., UnitOfWork]


@dataclass(frozen=True)
class UserRecord:
    """A platform account as stored."""

    id: int
    email: str
    password_hash: str
    referral_code: str
    referred_by: int | None
    created_at: str
    last_telegram_user_id: int | None
    last_login_at: str | None


@dataclass(frozen=True)
class SessionRecord:
    """A login session bound to one Telegram user."""

    id: int
    account_id: int
    telegram_user_id: int
    created_at: str
    last_seen_at: str
    expires_at: str
    ended_at: str | None
    end_reason: str | None = None  # read only by ``SessionsRepository.get``


@dataclass(frozen=True)
class SecurityState:
    """An account's security stamp and its last cool-down change (see migration 0008)."""

    stamp: str  # '' until the first change
    stamp_reason: str
    changed_at: str | None  # the last change that starts the withdrawal cool-down
    change_kind: str | None


class SecurityRepository(Protocol):
    """Per-account security stamps (ending pending flows) and cool-down changes."""

    async def get(self, account_id: int) -> SecurityState:
        """The account's state; stamp '' when nothing was ever recorded."""
        ...

    async def replace_stamp(self, account_id: int, stamp: str, reason: str, at: str) -> None:
        """Give the account a new stamp (every flow begun under the old one ends)."""
        ...

    async def record_change(self, account_id: int, kind: str, at: str) -> None:
        """Remember a change that starts the withdrawal cool-down."""
        ...


class AccountsRepository(Protocol):
    """Users and the failures that throttle their logins."""

    async def add(
        self,
        *,
        email: str,
        password_hash: str,
        referral_code: str,
        referred_by: int | None,
        created_at: str,
    ) -> int:
        """Insert a user; return its id. Raises ``DuplicateError`` on a taken email/code."""
        ...

    async def by_id(self, account_id: int) -> UserRecord | None:
        """The user with this id."""
        ...

    async def by_email(self, email: str) -> UserRecord | None:
        """The user with this (lowercased) email."""
        ...

    async def by_referral_code(self, code: str) -> UserRecord | None:
        """The user owning this referral code."""
        ...

    async def referral_code_taken(self, code: str) -> bool:
        """True when some account already has ``code``."""
        ...

    async def set_password_hash(self, account_id: int, password_hash: str) -> None:
        """Replace the password hash."""
        ...

    async def set_email(self, account_id: int, email: str) -> None:
        """Replace the email. Raises ``DuplicateError`` when taken."""
        ...

    async def record_login(self, account_id: int, telegram_user_id: int, at: str) -> None:
        """Remember the Telegram account and time of a successful login."""
        ...

    async def add_login_failure(self, email_key: str, telegram_user_id: int, at: str) -> int:
        """Record one failed (or reserved, not yet verified) password check; return its id."""
        ...

    async def remove_login_failure(self, failure_id: int) -> None:
        """Withdraw a reserved failure whose password turned out to be right."""
        ...

    async def login_failures_since(self, *, email_key: str, since: str) -> list[str]:
        """Times (ascending) of failures for this email key since ``since``."""
        ...

    async def shared_login_failures_since(
        self, *, email_key: str, account_id: int, since: str, trusted_since: str
    ) -> list[str]:
        """Times (ascending) of failures for this email key by Telegram users with no session
        on ``account_id`` begun at or after ``trusted_since`` (the shared bucket)."""
        ...

    async def user_login_failures_since(
        self, *, email_key: str, telegram_user_id: int, since: str
    ) -> list[str]:
        """Times (ascending) of failures for this email key by one Telegram user."""
        ...

    async def telegram_failures_since(self, *, telegram_user_id: int, since: str) -> list[str]:
        """Times (ascending) of failures by this Telegram user since ``since``."""
        ...

    async def logged_in_from(self, *, account_id: int, telegram_user_id: int, since: str) -> bool:
        """True when this Telegram user began a session on the account at/after ``since``."""
        ...

    async def clear_login_failures(self, email_key: str) -> None:
        """Forget failures for this email key."""
        ...

    async def clear_user_login_failures(self, email_key: str, telegram_user_id: int) -> None:
        """Forget one Telegram user's failures for this email key (after their good login)."""
        ...

    async def referred_count(self, account_id: int) -> int:
        """How many accounts registered with this account's referral code."""
        ...


class SessionsRepository(Protocol):
    """Sessions bound to Telegram users."""

    async def add(
        self, *, account_id: int, telegram_user_id: int, created_at: str, expires_at: str
    ) -> int:
        """Insert a live session; return its id."""
        ...

    async def live_for_telegram_user(self, telegram_user_id: int) -> SessionRecord | None:
        """The live (not ended) session of a Telegram user."""
        ...

    async def get(self, session_id: int) -> SessionRecord | None:
        """A session by id, ended or not, with its ``end_reason``."""
        ...

    async def touch(self, session_id: int, at: str) -> None:
        """Record activity."""
        ...

    async def end(self, session_id: int, at: str, reason: str) -> None:
        """End one session."""
        ...

    async def end_for_account(
        self, account_id: int, at: str, reason: str, *, keep_session_id: int | None = None
    ) -> list[int]:
        """End every live session of an account except ``keep_session_id``; return the
        Telegram user ids whose sessions ended."""
        ...


@dataclass(frozen=True)
class MfaRecord:
    """An account's TOTP enrolment (pending while ``enabled_at`` is None)."""

    account_id: int
    secret_enc: str
    created_at: str
    enabled_at: str | None
    last_used_step: int


@dataclass(frozen=True)
class BackupCodeRecord:
    """An unused backup code's hash."""

    id: int
    code_hash: str


class TwoFactorRepository(Protocol):
    """TOTP secrets, backup codes and wrong-code attempts."""

    async def get(self, account_id: int) -> MfaRecord | None:
        """The account's 2FA row."""
        ...

    async def put_pending(self, account_id: int, secret_enc: str, created_at: str) -> None:
        """Start or restart an enrolment (an enabled row is left alone)."""
        ...

    async def enable(self, account_id: int, at: str, step: int) -> bool:
        """Complete a pending enrolment; False when it was already enabled (or gone)."""
        ...

    async def use_step(self, account_id: int, step: int) -> bool:
        """Record an accepted step; False when not newer than the last (replay)."""
        ...

    async def delete(self, account_id: int) -> None:
        """Remove 2FA and its backup codes."""
        ...

    async def replace_backup_codes(self, account_id: int, hashes: list[str], at: str) -> None:
        """Void the old set, store the new hashes."""
        ...

    async def unused_backup_codes(self, account_id: int) -> list[BackupCodeRecord]:
        """Codes not used yet."""
        ...

    async def use_backup_code(self, code_id: int, at: str) -> bool:
        """Spend one code; False when already spent."""
        ...

    async def add_failure(self, account_id: int, at: str) -> int:
        """Record a wrong (or reserved, not yet checked) code; return its id."""
        ...

    async def remove_failure(self, failure_id: int) -> None:
        """Withdraw a reserved failure whose code turned out to be right."""
        ...

    async def failures_since(self, account_id: int, since: str) -> list[str]:
        """Wrong-code times since ``since``."""
        ...


@dataclass(frozen=True)
class RuleCount:
    """One rule over a period: hits (folded ones included), subjects, alerts sent/pending."""

    rule: str
    hits: int
    subjects: int
    alerts_sent: int
    alerts_pending: int


class AuditSearchRepository(Protocol):
    """Indexed reads of the audit log: window counts for detection, pages for people."""

    async def count_since(
        self,
        event_types: Sequence[str],
        *,
        since: str,
        cap: int,
        account_id: int | None = None,
        telegram_user_id: int | None = None,
    ) -> int:
        """Events of these types for this account (or Telegram user) with ``ts > since``,
        counted up to ``cap`` (so the cost stays bounded however busy the subject is)."""
        ...

    async def page(
        self,
        *,
        limit: int,
        account_id: int | None = None,
        telegram_user_id: int | None = None,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> list[AuditRow]:
        """Up to ``limit`` events of one account (or Telegram user), newest first, strictly
        older than ``before_id`` or strictly newer than ``after_id``."""
        ...


@dataclass(frozen=True)
class AlertRecord:
    """One admin alert in the outbox."""

    id: int
    created_at: str
    rule: str
    severity: str
    subject: str
    account_id: int | None
    telegram_user_id: int | None
    audit_event_id: int
    evidence: dict[str, Any]
    folded: int  # hits folded since the previous alert of this rule and subject
    hits: int  # this hit plus those folded into it so far
    status: str
    attempts: int
    next_attempt_at: str
    last_error: str | None
    sent_at: str | None


@dataclass(frozen=True)
class DedupeState:
    """When a rule last alerted about a subject, and the hits folded since."""

    last_alert_at: str
    folded: int


class AlertsRepository(Protocol):
    """The admin alert outbox and its dedupe state."""

    async def dedupe_state(self, rule: str, subject: str) -> DedupeState | None:
        """The newest alert time and folded count for ``rule`` + ``subject``."""
        ...

    async def fold(self, rule: str, subject: str) -> int:
        """Count one more hit folded into the current window; return the new count."""
        ...

    async def add(
        self,
        *,
        created_at: str,
        rule: str,
        severity: str,
        subject: str,
        account_id: int | None,
        telegram_user_id: int | None,
        audit_event_id: int,
        evidence: dict[str, Any],
        folded: int,
    ) -> int:
        """Queue an alert (due at once) and restart the dedupe window; return its id."""
        ...

    async def claim_due(self, *, now: str, lease_until: str, limit: int) -> list[AlertRecord]:
        """Pending alerts due by ``now``, oldest first; each gets one more attempt and is
        hidden until ``lease_until`` (so a crash mid-send only delays it)."""
        ...

    async def mark_sent(self, alert_id: int, *, at: str, message_id: int | None) -> None:
        """Telegram accepted it: done for good."""
        ...

    async def reschedule(self, alert_id: int, *, next_attempt_at: str, error: str) -> None:
        """A failed attempt: try again at ``next_attempt_at``."""
        ...

    async def recent(self, limit: int) -> list[AlertRecord]:
        """The newest alerts, newest first."""
        ...

    async def summary_since(self, since: str) -> list[RuleCount]:
        """Per rule, over alerts created since ``since``, most hits first."""
        ...


@dataclass(frozen=True)
class NoticeRecord:
    """A security notice for one of an account's Telegram accounts."""

    id: int
    created_at: str
    telegram_user_id: int
    account_id: int
    audit_event_id: int
    event_type: str
    details: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class RestoreNotice:
    """A Telegram user a restore logged out, still to be told why."""

    telegram_user_id: int
    archive_created_at: str
    attempts: int


class RestoreNoticesRepository(Protocol):
    """The outbox of "a restore logged you out" notices (no account needed: the user's may
    not exist in the restored copy)."""

    async def add(
        self, telegram_user_ids: Iterable[int], *, archive_created_at: str, at: str
    ) -> None:
        """Queue one notice per user."""
        ...

    async def due(self, limit: int) -> list[RestoreNotice]:
        """The oldest undelivered notices."""
        ...

    async def remove(self, telegram_user_id: int) -> None:
        """Delivered, or given up."""
        ...

    async def failed(self, telegram_user_id: int) -> None:
        """One more failed attempt."""
        ...


class NoticesRepository(Protocol):
    """The outbox of security notices to account owners."""

    async def recipients(self, account_id: int, *, since: str, limit: int) -> list[int]:
        """Telegram users that logged in to the account since ``since`` (and its last one),
        most recent first."""
        ...

    async def add(
        self,
        *,
        created_at: str,
        telegram_user_id: int,
        account_id: int,
        audit_event_id: int,
        event_type: str,
        details: dict[str, Any],
    ) -> int:
        """Queue a notice, due at once; return its id."""
        ...

    async def claim_due(self, *, now: str, lease_until: str, limit: int) -> list[NoticeRecord]:
        """Pending notices due by ``now`` (see :meth:`AlertsRepository.claim_due`)."""
        ...

    async def mark_sent(self, notice_id: int, *, at: str) -> None:
        """Delivered."""
        ...

    async def reschedule(self, notice_id: int, *, next_attempt_at: str, error: str) -> None:
        """A failed attempt: try again later."""
        ...

    async def give_up(self, notice_id: int, *, error: str) -> None:
        """Undeliverable (the user blocked the bot, the chat is gone): stop trying."""
        ...


@dataclass(frozen=True)
class ApiKeyRecord:
    """An exchange API key as lists show it (no ciphertexts)."""

    id: int
    account_id: int
    exchange: str
    label: str
    key_hint: str  # the key's last 4 characters at most
    created_at: str
    updated_at: str | None


@dataclass(frozen=True)
class ApiKeyTokens:
    """The encrypted credentials of one key row."""

    key_enc: str
    secret_enc: str
    passphrase_enc: str | None


class ApiKeysRepository(Protocol):
    """Exchange API keys. Every read and delete is scoped to the owning account."""

    async def for_account(self, account_id: int) -> list[ApiKeyRecord]:
        """The account's keys, oldest first."""
        ...

    async def get(self, account_id: int, key_id: int) -> ApiKeyRecord | None:
        """The key with this id if it belongs to the account."""
        ...

    async def by_label(self, account_id: int, exchange: str, label: str) -> ApiKeyRecord | None:
        """The account's key for this exchange and label (label compared case-insensitively)."""
        ...

    async def count(self, account_id: int) -> int:
        """How many keys the account has."""
        ...

    async def add(self, *, account_id: int, exchange: str, label: str, created_at: str) -> int:
        """Insert a row and return its id; :meth:`set_credentials` must follow in the same
        unit of work (the ciphertexts are bound to the id)."""
        ...

    async def set_credentials(
        self,
        account_id: int,
        key_id: int,
        *,
        tokens: ApiKeyTokens,
        key_hint: str,
        updated_at: str | None,
    ) -> None:
        """Store (or replace) the encrypted credentials of the account's key row."""
        ...

    async def tokens(self, account_id: int, key_id: int) -> ApiKeyTokens | None:
        """The encrypted credentials of the account's key."""
        ...

    async def delete(self, account_id: int, key_id: int) -> bool:
        """Remove the account's key; False when there was none with that id."""
        ...


@dataclass(frozen=True)
class SafetyRecord:
    """One platform-wide switch (e.g. the kill switch) as stored."""

    name: str
    active: bool
    reason: str
    changed_at: str
    changed_by_account: int | None
    changed_by_telegram: int | None


class SafetyRepository(Protocol):
    """Platform-wide safety switches; they survive restarts."""

    async def get(self, name: str) -> SafetyRecord | None:
        """The switch's state; None when it was never set (off)."""
        ...

    async def put(self, record: SafetyRecord) -> None:
        """Store the switch's new state."""
        ...


@dataclass(frozen=True)
class InvoiceRecord:
    """An invoice: what to pay, where, until when (``status``: open, paid, expired)."""

    id: int
    account_id: int
    plan: str
    tier: str
    days: int
    amount_micro: int
    receive_address: str
    created_at: str
    expires_at: str
    status: str
    signature: str | None


@dataclass(frozen=True)
class PaymentRecord:
    """A submitted transfer (``status``: pending, approved, failed, rejected, expired)."""

    id: int
    invoice_id: int
    account_id: int
    telegram_user_id: int
    tx_hash: str
    expected_micro: int
    status: str
    note: str
    submitted_at: str
    checked_at: str | None
    checks: int
    decided_at: str | None
    amount_micro: int | None
    approved_at: str | None
    approved_by_account_id: int | None
    signature: str | None


class PaymentsRepository(Protocol):
    """Invoices and the payments submitted against them."""

    async def add_invoice(
        self,
        *,
        account_id: int,
        plan: str,
        tier: str,
        days: int,
        amount_micro: int,
        receive_address: str,
        created_at: str,
        expires_at: str,
    ) -> int:
        """Insert an open invoice; return its id. ``DuplicateError`` if the amount is taken."""
        ...

    async def sign_invoice(self, invoice_id: int, signature: str) -> None:
        """Store the invoice's signature."""
        ...

    async def invoice(self, invoice_id: int) -> InvoiceRecord | None:
        """The invoice with this id."""
        ...

    async def open_invoice(self, account_id: int, plan: str, *, now: str) -> InvoiceRecord | None:
        """The account's newest open, unexpired invoice for ``plan``."""
        ...

    async def open_amounts(self, low: int, high: int) -> list[int]:
        """Amounts of open invoices between ``low`` and ``high`` (inclusive)."""
        ...

    async def invoices_for(self, account_id: int, limit: int) -> list[InvoiceRecord]:
        """The account's newest invoices first."""
        ...

    async def set_invoice_status(self, invoice_id: int, status: str, *, was: str) -> bool:
        """Move an invoice from status ``was`` to ``status``; False when it was not ``was``."""
        ...

    async def expire_invoices(self, now: str) -> int:
        """Mark open invoices past their expiry and without pending payments expired."""
        ...

    async def add_payment(
        self,
        *,
        invoice_id: int,
        account_id: int,
        telegram_user_id: int,
        tx_hash: str,
        expected_micro: int,
        submitted_at: str,
    ) -> int:
        """Insert a pending payment; ``DuplicateError`` when the hash was ever used."""
        ...

    async def payment(self, payment_id: int) -> PaymentRecord | None:
        """The payment with this id."""
        ...

    async def payment_by_tx(self, tx_hash: str) -> PaymentRecord | None:
        """The payment that used this transaction hash."""
        ...

    async def payments_for(self, account_id: int, limit: int) -> list[PaymentRecord]:
        """The account's newest payments first."""
        ...

    async def pending(self, limit: int) -> list[PaymentRecord]:
        """Pending payments, least recently checked first."""
        ...

    async def pending_count(self, invoice_id: int) -> int:
        """Pending payments of one invoice."""
        ...

    async def record_check(self, payment_id: int, *, at: str, note: str) -> None:
        """Remember a verification run that left the payment pending."""
        ...

    async def decide(
        self, payment_id: int, *, status: str, note: str, at: str, was: tuple[str, ...]
    ) -> bool:
        """Move a payment whose status is in ``was`` to ``status``; False when it was not."""
        ...

    async def approve(
        self,
        payment_id: int,
        *,
        amount_micro: int,
        approved_at: str,
        approved_by_account_id: int | None,
        signature: str,
        note: str,
        was: tuple[str, ...],
    ) -> bool:
        """Approve a payment whose status is in ``was``; False when it was not."""
        ...

    async def failed_since(self, account_id: int, since: str) -> int:
        """Payments of the account that failed verification since ``since``."""
        ...


@dataclass(frozen=True)
class LicenseRecord:
    """One paid period of a plan."""

    id: int
    account_id: int
    payment_id: int
    plan: str
    tier: str
    starts_at: str
    ends_at: str
    created_at: str
    signature: str | None


class LicensesRepository(Protocol):
    """Licenses bought with payments."""

    async def add(
        self,
        *,
        account_id: int,
        payment_id: int,
        plan: str,
        tier: str,
        starts_at: str,
        ends_at: str,
        created_at: str,
    ) -> int:
        """Insert a license; return its id."""
        ...

    async def sign(self, license_id: int, signature: str) -> None:
        """Store the license's signature."""
        ...

    async def ending_after(self, account_id: int, when: str) -> list[LicenseRecord]:
        """The account's licenses that end after ``when``, by start."""
        ...


@dataclass(frozen=True)
class WalletEntryRecord:
    """One ledger line: a signed amount (credit > 0, debit < 0) and what caused it."""

    id: int
    account_id: int
    amount_micro: int
    kind: str
    payment_id: int | None
    created_at: str
    signature: str | None


class WalletRepository(Protocol):
    """The wallet ledger; a balance is the sum of an account's entries."""

    async def add(
        self,
        *,
        account_id: int,
        amount_micro: int,
        kind: str,
        payment_id: int | None,
        created_at: str,
    ) -> int:
        """Append an entry; ``DuplicateError`` when the payment already caused this kind."""
        ...

    async def sign(self, entry_id: int, signature: str) -> None:
        """Store the entry's signature."""
        ...

    async def entries(self, account_id: int, limit: int) -> list[WalletEntryRecord]:
        """The account's newest entries first."""
        ...

    async def balance(self, account_id: int) -> int:
        """The sum of the account's entries."""
        ...


@dataclass(frozen=True)
class WithdrawalRecord:
    """A withdrawal request (``status``: requested, completed, rejected) and its outcome."""

    id: int
    account_id: int
    telegram_user_id: int
    amount_micro: int
    address: str
    status: str
    requested_at: str
    hold_entry_id: int | None
    decided_at: str | None
    decided_by_account_id: int | None
    tx_hash: str | None
    reason: str
    signature: str | None


class WithdrawalsRepository(Protocol):
    """Withdrawal requests; reads for users are scoped to the owning account."""

    async def add(
        self,
        *,
        account_id: int,
        telegram_user_id: int,
        amount_micro: int,
        address: str,
        requested_at: str,
    ) -> int:
        """Insert a requested withdrawal; return its id. :meth:`attach_hold` must follow in
        the same unit of work."""
        ...

    async def attach_hold(self, withdrawal_id: int, hold_entry_id: int, signature: str) -> None:
        """Store the ledger entry holding the amount and the request's signature."""
        ...

    async def get(self, withdrawal_id: int) -> WithdrawalRecord | None:
        """The withdrawal with this id (admins only: users go through :meth:`for_account`)."""
        ...

    async def by_tx_hash(self, tx_hash: str) -> WithdrawalRecord | None:
        """The withdrawal completed with this payout transaction."""
        ...

    async def for_account(self, account_id: int, limit: int) -> list[WithdrawalRecord]:
        """The account's newest withdrawals first."""
        ...

    async def requested(self, limit: int) -> list[WithdrawalRecord]:
        """Withdrawals waiting for an admin, oldest first."""
        ...

    async def totals(self, account_id: int) -> dict[str, int]:
        """Sum of the account's withdrawal amounts per status (missing statuses: none)."""
        ...

    async def decide(
        self,
        withdrawal_id: int,
        *,
        status: str,
        at: str,
        by_account_id: int,
        tx_hash: str | None,
        reason: str,
    ) -> bool:
        """Move a requested withdrawal to ``status``; False when it was no longer requested.
        Raises ``DuplicateError`` when ``tx_hash`` already completed another withdrawal."""
        ...


@dataclass(frozen=True)
class DatabaseCheck:
    """What a database file says about itself (a fresh snapshot or a restore candidate)."""

    integrity: list[str]  # the integrity check's messages: ["ok"] when the file is sound
    foreign_key_violations: int
    schema_version: int | None  # None: no migrations table, so not a Verzek Guard database
    row_counts: dict[str, int]  # rows per table


class DatabaseFiles(Protocol):
    """The live database as one file: online snapshots, checks of any copy, the restore swap.

    Everything here works on files and connections of its own, never on a unit of work.
    """

    @property
    def path(self) -> Path:
        """Where the live database file is."""
        ...

    def code_schema_version(self) -> int:
        """The newest schema version this code knows."""
        ...

    async def snapshot(self, dest: Path) -> None:
        """Copy the live database into the new file ``dest``, consistent as of one instant,
        while the bot keeps writing; ``dest`` is a self-contained file."""
        ...

    async def check(self, path: Path) -> DatabaseCheck:
        """Integrity, foreign keys, schema version and row counts of the file at ``path``;
        raises ``StorageError`` when it is not a readable database at all."""
        ...

    async def end_sessions(self, path: Path, at: str, reason: str, new_stamp: str = "") -> int:
        """End every live session in the (not live) database file at ``path``; return how
        many. With ``new_stamp``, every account's security stamp becomes that value."""
        ...

    async def live_session_users(self, path: Path, at: str) -> list[int]:
        """Telegram users with a live session at ``at`` in the database file at ``path`` (read
        only); raises ``StorageError`` when it cannot be read."""
        ...

    def exclusive(
        self, guard: Callable[[UnitOfWork], Awaitable[None]] | None = None
    ) -> AbstractAsyncContextManager[Callable[[], Awaitable[None]]]:
        """Hold off every unit of work. Yields ``close()``, which closes the live connection
        so the file may be replaced; leaving the block reopens (and migrates) the database.
        ``guard`` first runs on a unit of work of the live database (raising refuses)."""
        ...

    async def install(self, candidate: Path) -> None:
        """Inside :meth:`exclusive`, after ``close()``: make ``candidate`` (a file in the same
        folder) the live database durably; raises ``StorageError`` when another process still
        has the database open."""
        ...


@dataclass(frozen=True)
class PlatformStats:
    """The admin's one-glance numbers (/stats)."""

    users: int
    active_licenses: int
    pending_payments: int
    alerts_today: int


class StatsRepository(Protocol):
    """Counts across the platform."""

    async def snapshot(self, *, now: str, day_start: str) -> PlatformStats:
        """Users, licenses active at ``now``, pending payments, alerts since ``day_start``."""
        ...


@dataclass(frozen=True)
class StoredConversationState:
    """One sealed row of conversation state (see bot/persistence.py)."""

    kind: str  # "user_data" or "conversation"
    name: str  # the conversation's name; "" for user_data
    key: str  # JSON of the user id or the conversation key
    sealed: str


class ConversationStateRepository(Protocol):
    """Sealed conversation state, so flows survive a restart."""

    async def load(self, kind: str) -> list[StoredConversationState]:
        """Every row of one kind."""
        ...

    async def put(self, row: StoredConversationState, *, at: str) -> None:
        """Insert or replace a row."""
        ...

    async def delete(self, kind: str, name: str, key: str) -> None:
        """Forget a row (no error when there is none)."""
        ...
