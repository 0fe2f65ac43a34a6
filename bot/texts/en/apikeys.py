"""English: Exchange API keys: listing, adding, replacing, deleting."""

from __future__ import annotations

from bot.texts.template import Refusals
from core.apikeys.refusals import (
    ApiKeyNotFound,
    ApiKeysFull,
    Credential,
    CredentialMalformed,
    DeleteNeedsCode,
    ExchangeUnknown,
    LabelInvalid,
    PassphraseMalformed,
    PassphraseMissing,
    SecretIsKey,
)
from core.apikeys.service import exchange_name

# --- exchange API keys ---------------------------------------------------------------------
APIKEYS_NONE = "You have no exchange API keys yet. Add one with /apikey_add."
APIKEYS_HEADER = "<b>Your exchange API keys</b>"
APIKEYS_LINE = (
    "<b>#{id}</b> · {exchange} · {label} · <code>{masked}</code> · added {added} UTC{replaced}"
)
APIKEYS_REPLACED = ", replaced {at} UTC"
APIKEYS_FOOTER = (
    "Add or replace a key with /apikey_add; delete one with <code>/apikey_delete ID</code>."
)
APIKEY_BUTTON_ADD = "Add a key"
APIKEY_ASK_EXCHANGE = (
    "Add an exchange API key.\n\n<b>Step 1</b> — which exchange is it for? (/cancel to stop)"
)
APIKEY_PICK_EXCHANGE = "Please choose the exchange with one of the buttons above."
APIKEY_ASK_LABEL = (
    "<b>{exchange}</b> it is.\n\n<b>Step 2</b> — send a short label for this key, e.g. "
    "<code>main</code> (1 to 32 characters). Using a label you already have for {exchange} "
    "replaces that key."
)
APIKEY_LABEL_DELETED = "🔒 I deleted your message in case it was a key."
APIKEY_ASK_KEY = (
    "<b>Step 3</b> — send the <b>API key</b>. I'll delete your message right after reading "
    "it.\n\nTip: give the key trading rights only, never withdrawal rights."
)
APIKEY_WILL_REPLACE = (
    "ℹ️ You already have a {exchange} key labelled <b>{label}</b> (<code>{masked}</code>); "
    "finishing this replaces it."
)
APIKEY_ASK_SECRET = "<b>Step 4</b> — now send the <b>API secret</b>."
APIKEY_ASK_PASSPHRASE = "<b>Step 5</b> — {exchange} keys have a <b>passphrase</b>: send it."
APIKEY_ASK_CODE = (
    "Last step — confirm with the 6-digit code from your authenticator app (or a backup code)."
)
APIKEY_ASK_PASSWORD = (
    "Last step — confirm with your account password. (With /2fa_enroll you would confirm "
    "with a code from your phone instead.)"
)
APIKEY_ADDED = (
    "✅ Your {exchange} key <b>{label}</b> (<code>{masked}</code>) is saved, encrypted, as "
    "<b>#{id}</b>. See /apikeys."
)
APIKEY_REPLACED = (
    "✅ Your {exchange} key <b>{label}</b> was replaced; it is now <code>{masked}</code> "
    "(<b>#{id}</b>). See /apikeys."
)
APIKEY_DELETE_USAGE = (
    "Send <code>/apikey_delete ID</code> with the ID from /apikeys, e.g. "
    "<code>/apikey_delete 3</code>."
)
APIKEY_DELETE_CONFIRM = (
    "Delete your {exchange} key <b>{label}</b> (<code>{masked}</code>, #{id})? Trading with "
    "it stops. This can't be undone."
)
APIKEY_BUTTON_DELETE = "Delete"
APIKEY_BUTTON_KEEP = "Keep it"
APIKEY_DELETE_ASK_CODE = (
    "Send the 6-digit code from your authenticator app (or a backup code) to confirm. "
    "(/cancel to stop)"
)
APIKEY_DELETED = (
    "🗑 Your {exchange} key <b>{label}</b> (<code>{masked}</code>) was deleted. Revoke it on "
    "the exchange's website too, so it can't be used anywhere else."
)
APIKEY_KEPT = "OK, I kept the key. Nothing was changed."

CREDENTIAL_NAMES = {Credential.KEY: "API key", Credential.SECRET: "API secret"}


def credential_malformed(reason: CredentialMalformed) -> str:
    """The key or secret sent is not one."""
    what = CREDENTIAL_NAMES[reason.credential]
    return (
        f"That doesn't look like an {what}: it should be {reason.minimum} to "
        f"{reason.maximum} characters (letters, digits and symbols) without spaces. "
        f"Please copy the {what} again and send it on its own."
    )


def passphrase_missing(reason: PassphraseMissing) -> str:
    """The exchange needs a passphrase and none came."""
    return f"{exchange_name(reason.exchange)} keys need their passphrase too."


APIKEY_REFUSALS: Refusals = {
    ExchangeUnknown: "Please choose the exchange with one of the buttons.",
    LabelInvalid: (
        "A label is 1 to {maximum} characters: letters, digits, spaces, "
        "<code>-</code>, <code>_</code> or <code>.</code> (for example <code>main</code>). "
        "Please send another label."
    ),
    CredentialMalformed: credential_malformed,
    SecretIsKey: (
        "That is the API key again. Please copy the <b>secret</b> from the exchange and send it."
    ),
    PassphraseMalformed: (
        "That doesn't look like an API passphrase: it should be {minimum} to {maximum} "
        "characters on one line. Please send the passphrase you chose when you created the key."
    ),
    PassphraseMissing: passphrase_missing,
    DeleteNeedsCode: "Deleting a key needs a code from your authenticator app.",
    ApiKeyNotFound: "You have no API key with ID {key_id}. See /apikeys.",
    ApiKeysFull: (
        "You already have {maximum} API keys, the most an account can hold. Delete one with "
        "/apikey_delete first, or replace one by adding it again with the same exchange and "
        "label."
    ),
}
