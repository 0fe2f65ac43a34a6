"""What each conversation keeps between its steps: one small dataclass per flow.

A flow's state lives in ``user_data[flow name]`` and is persisted with the conversation
(:mod:`bot.persistence`, sealed typed JSON through :mod:`bot.state_codec`, never pickle), so
every class here is listed in :data:`STORED` or, for credentials that must never reach the
disk, :data:`MEMORY_ONLY`. Passwords and codes are never kept: only what core made of them (a
hash the user confirms, a re-auth proof, a login attempt). Read and create the state with
:func:`bot.flows.flow_state`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.accounts.service import LoginAttempt
from core.accounts.sessions import ReauthProof, Session
from core.adapters.captcha_image import Captcha
from core.withdrawals.rules import WithdrawalDraft


@dataclass
class FlowState:
    """What the shared steps of :mod:`bot.flows` keep for any flow."""

    session: Session | None = None  # the session the flow started with
    email: str | None = None  # the email step's answer
    proof: ReauthProof | None = None  # the password step's fresh re-authentication
    attempt: LoginAttempt | None = None  # a login whose second factor is still asked for
    cleanup: list[tuple[int, int]] = field(default_factory=list)  # bot messages to delete

    def started_session(self) -> Session:
        """The session the flow's first step kept (a later step cannot run without one)."""
        if self.session is None:
            raise LookupError("the flow kept no session")
        return self.session

    def fresh_proof(self) -> ReauthProof:
        """The re-authentication the password step kept."""
        if self.proof is None:
            raise LookupError("the flow kept no re-authentication")
        return self.proof


@dataclass
class CaptchaFlowState(FlowState):
    """A flow with a captcha step (:mod:`bot.captcha_step`)."""

    captcha: Captcha | None = None
    captcha_tries: int = 0
    captcha_pictures: int = 0
    captcha_picture: tuple[int, int] | None = None  # (chat id, message id) on screen


@dataclass
class RegisterDraft(CaptchaFlowState):
    """/register: the new password's hash until the user has typed it twice; the invite's
    code the referral step offered (its "Use" button means exactly the code it showed)."""

    password_hash: str | None = None
    offered_code: str | None = None


@dataclass
class Invitation:
    """The referral code of the invite link (``/start ref_CODE``) this user opened last,
    checked when it arrived; /register offers it at its referral step. Kept under
    :data:`INVITATION` in user_data, outside any flow, so /register's fresh start keeps it."""

    code: str = ""


INVITATION = "invitation"


@dataclass
class LoginDraft(CaptchaFlowState):
    """/login: how many passwords were tried, whether the captcha was passed."""

    password_tries: int = 0
    captcha_passed: bool = False


@dataclass
class PasswordChange(FlowState):
    """/password: the new password's hash until it is typed again."""

    new_hash: str | None = None


@dataclass
class PaymentApproval(FlowState):
    """/approve: the payment an admin is approving."""

    payment_id: int = 0


@dataclass
class PaymentPick(FlowState):
    """/pay sent bare: the invoice the user picked, until its hash arrives."""

    invoice_id: int = 0


@dataclass
class PickedItem(FlowState):
    """An admin command's item picked by button, until the rest is typed
    (bot/handlers/pick_then_ask.py)."""

    value: str = ""


@dataclass
class RestoreDraft(FlowState):
    """/restore: the archive an admin is restoring."""

    name: str = ""


@dataclass
class KillSwitchChange(FlowState):
    """/killswitch: what the admin asked for, until the code confirms it."""

    active: bool = False
    reason: str = ""


@dataclass
class WithdrawalFlow(FlowState):
    """/withdraw: the withdrawal waiting for its code (sent bare: the amount typed first)."""

    draft: WithdrawalDraft | None = None
    amount: str = ""


@dataclass
class ApiKeyDeletion(FlowState):
    """/apikey_delete: the key to delete, and the random token its "Delete" button carries
    (never the key's id: a button from another confirmation matches no flow)."""

    key_id: int | None = None
    confirm: str = ""


@dataclass
class PendingApiKey:
    """What the add flow collected so far; credentials stay out of any repr."""

    exchange: str = ""
    label: str = ""
    key: str = field(default="", repr=False)
    secret: str = field(default="", repr=False)
    passphrase: str | None = field(default=None, repr=False)
    needs_code: bool = True


@dataclass
class ApiKeyAddition(FlowState):
    """/apikey_add: the credentials typed so far (never in the database, see below)."""

    pending: PendingApiKey = field(default_factory=PendingApiKey)


@dataclass
class AccountDeletion(FlowState):
    """/delete_account: whether a code is asked, the code check, the confirmation's reference."""

    needs_code: bool = False
    code_proof: ReauthProof | None = None  # core's check of the 2FA code (never the code)
    reference: str = ""


STORED: tuple[type[object], ...] = (
    FlowState,
    CaptchaFlowState,
    RegisterDraft,
    Invitation,
    LoginDraft,
    PasswordChange,
    PaymentApproval,
    PaymentPick,
    PickedItem,
    RestoreDraft,
    KillSwitchChange,
    WithdrawalFlow,
    ApiKeyDeletion,
    AccountDeletion,
)
# API credentials waiting for their last step: "never in the database" (bot/handlers/apikeys.py).
MEMORY_ONLY: tuple[type[object], ...] = (PendingApiKey, ApiKeyAddition)
