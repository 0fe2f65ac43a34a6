"""Builds the python-telegram-bot Application: the same one for `verzek run`, tests and shell."""

from __future__ import annotations

import logging
import os
from datetime import UTC
from typing import Any

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    ApplicationBuilder,
    BaseRateLimiter,
    Defaults,
    TypeHandler,
)
from telegram.request import BaseRequest

from bot import pickers, user_turns
from bot.bootstrap import bootstrap
from bot.bot_request import ShardedRequest
from bot.commands import AdminOnly
from bot.context import CONTEXT_TYPES, VerzekApplication
from bot.errors import on_error
from bot.gate import SWEEP_SECONDS, gate, sweep_rate_limits
from bot.handlers import account, apikeys, info, killswitch, login, register, start, twofactor
from bot.handlers import account_deletion as deletion_feature
from bot.handlers import activity as activity_feature
from bot.handlers import admin_audit as admin_audit_feature
from bot.handlers import admin_payments as admin_payments_feature
from bot.handlers import admin_stats as admin_stats_feature
from bot.handlers import admin_withdrawals as admin_withdrawals_feature
from bot.handlers import backups as backups_feature
from bot.handlers import pay_flow as pay_flow_feature
from bot.handlers import payments as payments_feature
from bot.handlers import renewal as renewal_feature
from bot.handlers import security_checkup as checkup_feature
from bot.handlers import sessions as sessions_feature
from bot.handlers import settings as settings_feature
from bot.handlers import stars as stars_feature
from bot.handlers import wallet as wallet_feature
from bot.jobs import anchors as audit_anchors
from bot.jobs import backups as nightly_backup
from bot.jobs import leader as job_leader
from bot.jobs import outbox, payment_watch
from bot.jobs import payments as payment_jobs
from bot.jobs import reminders as renewal_reminders
from bot.jobs.leader import LeaderJobQueue
from bot.menus import set_profile
from bot.outgoing import LaneRateLimiter
from bot.persistence import SealedPersistence
from bot.secret_steps import register_after_secret_guard
from bot.update_processor import PerUserUpdateProcessor
from core.config import Settings
from core.payments.chain import ChainSource
from core.services import Services

logger = logging.getLogger(__name__)

# Opt in to PTB's future behaviour (RetryAfter.retry_after as a timedelta) now: without it
# PTB 22 emits a DeprecationWarning on every 429, and our code reads both forms.
os.environ.setdefault("PTB_TIMEDELTA", "true")

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def build_application(
    settings: Settings,
    services: Services | None = None,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    rate_limiter: BaseRateLimiter[Any] | None = None,
    chain: ChainSource | None = None,
) -> VerzekApplication:
    """The Application with every handler registered.

    With ``services`` given, the caller owns their lifecycle (tests, shell); otherwise they are
    built in ``post_init`` and closed in ``post_shutdown``.
    ``rate_limiter`` replaces the outgoing limiter (Telegram's flood limits, 429 retries);
    ``bench/updates.py`` passes one without the 30 messages/s cap to time the bot itself.
    ``chain`` replaces the TronScan client (``verzek shell`` passes its simulated chain).
    """
    owned: list[Services] = []  # what post_init built: post_shutdown closes exactly that

    async def services_now() -> Services:
        # The persistence loads conversations in Application.initialize, before post_init:
        # whichever comes first builds the services, once.
        if services is not None:
            return services
        if not owned:
            owned.append(await bootstrap(settings, chain=chain))
        return owned[0]

    async def post_init(application: VerzekApplication) -> None:
        application.bot_data.attach(await services_now())
        await set_profile(application.bot, settings)  # menus and descriptions

    async def post_shutdown(application: VerzekApplication) -> None:
        # run_polling calls this even when start-up failed before post_init (Telegram
        # unreachable): then nothing was built and there is nothing to close.
        while owned:
            await owned.pop().aclose()

    token = settings.telegram.token.get() if settings.telegram.token else "0:offline"
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram.base_url)
        .context_types(CONTEXT_TYPES)
        .defaults(Defaults(parse_mode=ParseMode.HTML, tzinfo=UTC, link_preview_options=NO_PREVIEW))
        .concurrent_updates(PerUserUpdateProcessor())
        .job_queue(LeaderJobQueue())  # jobs run on the one instance holding the lease
        .persistence(SealedPersistence(services_now))
        .rate_limiter(rate_limiter or LaneRateLimiter(settings.telegram.max_messages_per_second))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    builder = builder.request(request or ShardedRequest())
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    application: VerzekApplication = builder.build()
    processor = application.update_processor
    if isinstance(processor, PerUserUpdateProcessor):  # each update a turn of its user
        processor.turns = lambda user, update: user_turns.turn(application, user, update)
    if services is not None:
        application.bot_data.attach(services)
    application.add_handler(TypeHandler(Update, gate), group=-1)
    if application.job_queue is not None:
        application.job_queue.run_repeating(
            sweep_rate_limits, interval=SWEEP_SECONDS, first=SWEEP_SECONDS, name="ratelimit-sweep"
        )
    for feature in (start, register, login, account, twofactor, apikeys):
        feature.register(application)
    sessions_feature.register(application)  # /sessions and its End buttons
    # Every admin handler carries this filter of its own, behind the gate (SPEC §10).
    admins = AdminOnly(settings.telegram.admins)
    killswitch.register(application, admins)
    activity_feature.register(application)
    admin_audit_feature.register(application, admins)
    admin_stats_feature.register(application, admins)
    backups_feature.register(application, admins)
    payments_feature.register(application)
    pay_flow_feature.register(application)  # /pay, and bare /pay's invoice buttons
    renewal_feature.register(application)  # the reminders' Renew buttons
    admin_payments_feature.register(application, admins)
    stars_feature.register(application, admins)  # Telegram Stars, /subscription, /refund
    wallet_feature.register(application)
    info.register(application)  # /terms, /privacy, /paysupport
    settings_feature.register(application)  # /settings
    checkup_feature.register(application)  # /security
    deletion_feature.register(application)  # /delete_account
    admin_withdrawals_feature.register(application, admins)
    job_leader.register(application, settings)  # take/renew the lease; every job below asks it
    nightly_backup.register(application, settings)
    outbox.register(application)  # alerts to the admin chat, notices to owners
    audit_anchors.register(application)  # the audit chain's head, hourly and after backups
    payment_jobs.register(application)  # re-checks pending payments every minute
    renewal_reminders.register(application)  # 3 and 1 days before a license ends
    pickers.register_fallback(application)  # buttons of pickers nobody holds any more
    payment_watch.register(application, settings)  # payments found without a hash
    register_after_secret_guard(application)  # after every flow, before the catch-all hint
    start.register_fallback(application)
    application.add_error_handler(on_error)
    return application
