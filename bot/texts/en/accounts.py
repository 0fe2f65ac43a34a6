"""English: Registration, login, the account itself (/me, password, email)."""

from __future__ import annotations

from bot.texts.en.common import LOGIN_FIRST
from bot.texts.template import Refusals
from core.accounts.password_rules import (
    PasswordGuessable,
    PasswordHasEmailName,
    PasswordTooLong,
    PasswordTooShort,
)
from core.accounts.refusals import (
    AccountGone,
    AccountNotCreated,
    EmailInvalid,
    EmailUnavailable,
    EmailUnchanged,
    EmailUnreadable,
    NotLoggedIn,
    PasswordLoginLocked,
    PasswordUnchanged,
    SecondFactorNeeded,
    TooManyAccounts,
    UnknownReferralCode,
    WrongPassword,
)

# --- register ------------------------------------------------------------------------------
REG_ASK_EMAIL = (
    "Let's create your Verzek account.\n\n<b>Step 1 of {total}</b> — send your email address. "
    "(/cancel to stop)"
)
REG_ASK_PASSWORD = (
    "<b>Step 2 of {total}</b> — choose a password: 12 to 128 characters, anything you like. A few "
    "unrelated words make a strong one. I'll delete your message right after reading it."
)
REG_TRY_ANOTHER_PASSWORD = "Please send another password."
REG_CAPTCHA = "<b>Step 3 of {total}</b> — prove you're human."
REG_ASK_REFERRAL = (
    "<b>Step {step} of {total}</b> — do you have a referral code? Send it, or press <b>Skip</b>."
)
REG_UNKNOWN_REFERRAL = "I don't know that referral code. Send another one, or press Skip."
REG_DONE = (
    "✅ Your account <b>{email}</b> is ready, and you're logged in.\n\n{referred}"
    "Your own referral code: <code>{code}</code>\n\n{session}\n\n"
    "Next: protect your account with two-factor authentication (/2fa_enroll)."
)

# --- login ---------------------------------------------------------------------------------
LOGIN_ASK_EMAIL = "Log in to Verzek.\n\nSend your email address. (/cancel to stop)"
LOGIN_ASK_PASSWORD = "Now send your password. I'll delete your message right after reading it."
LOGIN_CAPTCHA = "One more step — prove you're human."
# The one verdict for a wrong password and an unknown email; a hint follows it.
LOGIN_FAILED = "The email or password is not correct."
LOGIN_FAILED_START_OVER = "Start again with /login."
LOGIN_DONE = "✅ You're logged in as <b>{email}</b>.\n\n{session}"
LOGIN_ELSEWHERE = (
    "⚠️ Your Verzek account <b>{email}</b> was just logged in from another Telegram account. "
    "If that wasn't you, log in here and change your password with /password right away."
)
LOGOUT_DONE = "You're logged out. See you soon."
LOGOUT_NONE = "You're not logged in."

# --- account -------------------------------------------------------------------------------
ME = (
    "<b>Your account</b>\n"
    "Email: {email}\n"
    "Tier: {tier}\n"
    "License: {license}\n"
    "Two-factor authentication: {mfa}\n\n"
    "{session}"
)
PW_ASK_CURRENT = "Change your password.\n\nSend your <b>current</b> password. (/cancel to stop)"
PW_ASK_NEW = (
    "Now send the <b>new</b> password (12 to 128 characters). I'll delete your message right "
    "after reading it."
)
PW_DONE = "✅ Your password was changed. {others}"
PW_OTHERS_ENDED = "I logged out {count}."
PW_NO_OTHERS = "No other sessions were open."
PW_CHANGED_ELSEWHERE = (
    "⚠️ The password of your Verzek account was changed, so this session was logged out. "
    "If that wasn't you, contact support right away."
)
EMAIL_ASK_PASSWORD = "Change your email.\n\nFirst send your password. (/cancel to stop)"
EMAIL_ASK_NEW = "Now send the new email address."
EMAIL_DONE = "✅ Your email is now <b>{email}</b>."

# --- sign-in, session times and notices people expect ---------------------------------------
REG_CONFIRM_PASSWORD = (
    "<b>Step 2 of {total}</b> — send the same password once more, so a typo can't lock you out."
)
PASSWORDS_DIFFER = "The two passwords weren't the same, so I kept neither."
REG_REFERRED = "You were referred by code <code>{code}</code>.\n\n"
LOGIN_FAILED_TRY_AGAIN = (
    "Send the password again, or start over with /login if the email was wrong."
)
SESSION_LIMITS = (
    "Your session ends after {idle} without activity (at {idle_end} UTC if you do nothing "
    "more), and at {absolute_end} UTC at the latest, however active you are. /logout ends it "
    "now."
)
ME_MFA_ON = "on (since {since}, {left} left)"
ME_MFA_OFF = "off — turn it on with /2fa_enroll"
PW_CONFIRM_NEW = "Send the new password once more, so a typo can't lock you out."
LOGIN_BACKUP_CODE_USED = "🛡 You used a backup code, so it won't work again: {left} left."
LOGIN_FEW_BACKUP_CODES = "Make a new set soon with /backup_codes."
LOGIN_LAST_BACKUP_CODE = (
    "⚠️ That was your last backup code. Make a new set now with /backup_codes, so losing your "
    "phone can't lock you out."
)
NOTICE_REFERRAL_CREDITED = (
    "🤝 <b>{amount} USDT</b> referral commission was credited to your /wallet: someone who "
    "signed up with your code paid for a plan."
)


def _minutes(seconds: int) -> str:
    minutes = max(1, (seconds + 59) // 60)
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"


def password_login_locked(reason: PasswordLoginLocked) -> str:
    """The text shown while password login is locked (identical for every email)."""
    return (
        "Too many failed attempts. For your safety, password login is paused for about "
        f"{_minutes(reason.seconds)}. Please try again later."
    )


def password_guessable(reason: PasswordGuessable) -> str:
    """zxcvbn's score is too low: say so, with zxcvbn's own hints."""
    hints = " ".join(reason.hints)
    return (
        "That password is too easy to guess."
        + (f" {hints}" if hints else "")
        + " Longer passphrases of unrelated words work well."
    )


ACCOUNT_REFUSALS: Refusals = {
    EmailUnreadable: "That doesn't look like an email address. Please send it again.",
    EmailInvalid: (
        "That doesn't look like an email address (for example <i>name@example.com</i>). "
        "Please send it again."
    ),
    UnknownReferralCode: "I don't know that referral code.",
    TooManyAccounts: (
        "You can't register another account from this Telegram account: it already "
        "registered {limit}. Log in to one of them with /login."
    ),
    AccountNotCreated: (
        "I couldn't create an account with these details. If you already have an "
        "account, log in with /login."
    ),
    AccountGone: "This account no longer exists.",
    NotLoggedIn: LOGIN_FIRST,
    SecondFactorNeeded: "A two-factor code is needed to finish logging in. /login",
    PasswordLoginLocked: password_login_locked,
    WrongPassword: "That password is not correct. Nothing was changed.",
    PasswordUnchanged: "The new password must be different from the current one.",
    EmailUnchanged: "That is already your email address.",
    EmailUnavailable: "That email address can't be used. Please send a different one.",
    PasswordTooShort: (
        "Your password needs at least {minimum} characters (this one has {length}). A few "
        "unrelated words make a strong password that is easy to remember."
    ),
    PasswordTooLong: "Your password can be at most {maximum} characters.",
    PasswordHasEmailName: "Your password must not contain the name part of your email address.",
    PasswordGuessable: password_guessable,
}
