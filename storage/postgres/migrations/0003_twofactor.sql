-- Two-factor authentication: TOTP secrets (encrypted), one-time backup codes (hashed),
-- and wrong-code attempts for the throttle.

CREATE TABLE mfa (
    account_id     BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_enc     TEXT COLLATE "C" NOT NULL,            -- Fernet token bound to (account, "totp")
    created_at     TEXT COLLATE "C" NOT NULL,
    enabled_at     TEXT COLLATE "C",                        -- NULL while enrolment awaits its first code
    last_used_step BIGINT  NOT NULL DEFAULT -1  -- newest accepted time step (replay guard)
);

CREATE TABLE backup_codes (
    id         BIGINT PRIMARY KEY,
    account_id BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT COLLATE "C" NOT NULL,               -- salted argon2id
    created_at TEXT COLLATE "C" NOT NULL,
    used_at    TEXT COLLATE "C"
);

CREATE TRIGGER backup_codes_assign_id BEFORE INSERT ON backup_codes
    FOR EACH ROW EXECUTE FUNCTION assign_id();

CREATE INDEX backup_codes_unused ON backup_codes (account_id) WHERE used_at IS NULL;

CREATE TABLE mfa_failures (
    id         BIGINT PRIMARY KEY,
    account_id BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at         TEXT COLLATE "C" NOT NULL
);

CREATE TRIGGER mfa_failures_assign_id BEFORE INSERT ON mfa_failures
    FOR EACH ROW EXECUTE FUNCTION assign_id();

CREATE INDEX mfa_failures_by_account ON mfa_failures (account_id, at);
