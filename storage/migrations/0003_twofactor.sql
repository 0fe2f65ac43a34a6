-- Two-factor authentication: TOTP secrets (encrypted), one-time backup codes (hashed),
-- and wrong-code attempts for the throttle.

CREATE TABLE mfa (
    account_id     INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_enc     TEXT    NOT NULL,            -- Fernet token bound to (account, "totp")
    created_at     TEXT    NOT NULL,
    enabled_at     TEXT,                        -- NULL while enrolment awaits its first code
    last_used_step INTEGER NOT NULL DEFAULT -1  -- newest accepted time step (replay guard)
);

CREATE TABLE backup_codes (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT    NOT NULL,               -- salted argon2id
    created_at TEXT    NOT NULL,
    used_at    TEXT
);

CREATE INDEX backup_codes_unused ON backup_codes (account_id) WHERE used_at IS NULL;

CREATE TABLE mfa_failures (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at         TEXT    NOT NULL
);

CREATE INDEX mfa_failures_by_account ON mfa_failures (account_id, at);
