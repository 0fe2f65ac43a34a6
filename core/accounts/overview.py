"""What /me shows about an account, read in ONE transaction (issue #22: one read per update).

/me used to ask three services in turn (the account, its 2FA, its license), each opening its
own read transaction on the process's one database connection. :func:`account_overview`
reads the same rows in one, and decides on them exactly as those services do: a closed or
missing account is refused with :class:`AccountGone`, license rows are verified one by one and
a row failing its signature is left out and reported (:meth:`LicenseService.status_from`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.accounts.ports import UserRecord
from core.accounts.refusals import AccountGone
from core.clock import Clock
from core.errors import Refusal
from core.payments.licenses import LicenseService, LicenseStatus
from core.ports import UnitOfWork
from core.twofactor.service import MfaStatus, mfa_status


@dataclass(frozen=True)
class AccountOverview:
    """The account, its 2FA status and its license now (None: free)."""

    account: UserRecord
    mfa: MfaStatus
    license: LicenseStatus | None


async def account_overview(
    uow_factory: Callable[..., UnitOfWork], clock: Clock, licenses: LicenseService, account_id: int
) -> AccountOverview:
    """The account's overview from one read transaction; raises ``Refusal(AccountGone())``
    for a closed or missing account, as :meth:`AccountService.account` does."""
    now = clock.now()
    async with uow_factory(read_only=True) as uow:
        account = await uow.accounts.by_id(account_id)
        if account is None or account.closed_at is not None:
            raise Refusal(AccountGone())
        mfa = await mfa_status(uow, account_id)
        records = await uow.licenses.ending_after(account_id, now)
    status = await licenses.status_from(account_id, records, now)
    return AccountOverview(account, mfa, status)
