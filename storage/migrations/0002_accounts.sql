-- Accounts: users, sessions bound to a Telegram user, and login failures for throttling.

CREATE TABLE users (
    id                    INTEGER PRIMARY KEY,
    email                 TEXT    NOT NULL UNIQUE,          -- lowercased
    password_hash         TEXT    NOT NULL,                 -- argon2id
    referral_code         TEXT    NOT NULL UNIQUE,
    referred_by           INTEGER REFERENCES users (id),
    created_at            TEXT    NOT NULL,
    last_telegram_user_id INTEGER,
    last_login_at         TEXT
);

CREATE INDEX users_referred_by ON users (referred_by);

CREATE TABLE sessions (
    id               INTEGER PRIMARY KEY,
    account_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    telegram_user_id INTEGER NOT NULL,
    created_at       TEXT    NOT NULL,
    last_seen_at     TEXT    NOT NULL,
    expires_at       TEXT    NOT NULL,   -- absolute end
    ended_at         TEXT,
    end_reason       TEXT
);

-- At most one live session per Telegram user.
CREATE UNIQUE INDEX sessions_live_by_telegram_user ON sessions (telegram_user_id)
    WHERE ended_at IS NULL;
CREATE INDEX sessions_live_by_account ON sessions (account_id) WHERE ended_at IS NULL;

-- One row per failed password check. Keyed by the normalised email typed (not the account),
-- so an unknown email locks exactly like a real one and the lock reveals nothing.
CREATE TABLE login_failures (
    id               INTEGER PRIMARY KEY,
    email_key        TEXT    NOT NULL,
    telegram_user_id INTEGER NOT NULL,
    at               TEXT    NOT NULL
);

CREATE INDEX login_failures_by_email ON login_failures (email_key, at);
CREATE INDEX login_failures_by_telegram_user ON login_failures (telegram_user_id, at);
