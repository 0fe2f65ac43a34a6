-- /settings and /delete_account (SPEC §11).
--
-- notice_preferences: the owner's choice per kind of notice (core/accounts/preferences.py).
-- No row means the kind's default. Security-critical notices are not a kind one can turn off,
-- so nothing here can silence them.
--
-- users.closed_at: set when the owner deleted the account. The row stays (payments, licenses,
-- wallet entries and audit rows point at it, and accounting keeps them); the email is replaced
-- by a tombstone (so the address is free and no longer stored), the password hash by a value
-- no password matches; 2FA secrets, backup codes, API keys and these preferences are deleted.

CREATE TABLE notice_preferences (
    account_id BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT COLLATE "C" NOT NULL,
    enabled    BIGINT  NOT NULL CHECK (enabled IN (0, 1)),
    changed_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (account_id, kind)
);

ALTER TABLE users ADD COLUMN closed_at TEXT COLLATE "C";
