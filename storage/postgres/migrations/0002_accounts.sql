-- Accounts: users, sessions bound to a Telegram user, and login failures for throttling.

CREATE TABLE users (
    id                    BIGINT PRIMARY KEY,
    email                 TEXT COLLATE "C" NOT NULL UNIQUE,          -- lowercased
    password_hash         TEXT COLLATE "C" NOT NULL,                 -- argon2id
    referral_code         TEXT COLLATE "C" NOT NULL UNIQUE,
    referred_by           BIGINT  REFERENCES users (id),
    created_at            TEXT COLLATE "C" NOT NULL,
    last_telegram_user_id BIGINT,
    last_login_at         TEXT COLLATE "C"
);

CREATE TRIGGER users_assign_id BEFORE INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION assign_id();

CREATE INDEX users_referred_by ON users (referred_by);

CREATE TABLE sessions (
    id               BIGINT PRIMARY KEY,
    account_id       BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    telegram_user_id BIGINT  NOT NULL,
    created_at       TEXT COLLATE "C" NOT NULL,
    last_seen_at     TEXT COLLATE "C" NOT NULL,
    expires_at       TEXT COLLATE "C" NOT NULL,   -- absolute end
    ended_at         TEXT COLLATE "C",
    end_reason       TEXT COLLATE "C"
);

CREATE TRIGGER sessions_assign_id BEFORE INSERT ON sessions
    FOR EACH ROW EXECUTE FUNCTION assign_id();

-- At most one live session per Telegram user.
CREATE UNIQUE INDEX sessions_live_by_telegram_user ON sessions (telegram_user_id)
    WHERE ended_at IS NULL;
CREATE INDEX sessions_live_by_account ON sessions (account_id) WHERE ended_at IS NULL;

-- One row per failed password check. Keyed by the normalised email typed (not the account),
-- so an unknown email locks exactly like a real one and the lock reveals nothing.
CREATE TABLE login_failures (
    id               BIGINT PRIMARY KEY,
    email_key        TEXT COLLATE "C" NOT NULL,
    telegram_user_id BIGINT  NOT NULL,
    at               TEXT COLLATE "C" NOT NULL
);

CREATE TRIGGER login_failures_assign_id BEFORE INSERT ON login_failures
    FOR EACH ROW EXECUTE FUNCTION assign_id();

CREATE INDEX login_failures_by_email ON login_failures (email_key, at);
CREATE INDEX login_failures_by_telegram_user ON login_failures (telegram_user_id, at);
