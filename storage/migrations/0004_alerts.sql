-- Detection and alerts: indexes for constant-cost window counts, the admin alert outbox with
-- its dedupe state, and the outbox of security notices to account owners.

-- Window counts ("how many LOGIN_FAILED for this account since T") read one index range each.
CREATE INDEX audit_events_type_account_ts ON audit_events (event_type, account_id, ts);
CREATE INDEX audit_events_type_telegram_user_ts ON audit_events (event_type, telegram_user_id, ts);

-- Alerts waiting for (or done with) delivery to the admin chat. Never deleted: a row is marked
-- sent only after Telegram accepted it; until then attempts/next_attempt_at drive the backoff.
CREATE TABLE alerts (
    id                  INTEGER PRIMARY KEY,
    created_at          TEXT    NOT NULL,
    rule                TEXT    NOT NULL,
    severity            TEXT    NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    subject             TEXT    NOT NULL,   -- 'account:12' or 'telegram:345'
    account_id          INTEGER,
    telegram_user_id    INTEGER,
    audit_event_id      INTEGER NOT NULL REFERENCES audit_events (id),  -- its SUSPICIOUS_ACTIVITY
    evidence            TEXT    NOT NULL,   -- JSON, no secrets
    folded              INTEGER NOT NULL DEFAULT 0 CHECK (folded >= 0),  -- before this one
    hits                INTEGER NOT NULL DEFAULT 1,  -- this one plus those folded into it
    status              TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     TEXT    NOT NULL,
    last_error          TEXT,
    sent_at             TEXT,
    telegram_message_id INTEGER
);

CREATE INDEX alerts_due ON alerts (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alerts_created ON alerts (created_at);

-- The newest alert per rule and subject, and how many hits were folded since (dedupe).
CREATE TABLE alert_dedupe (
    rule          TEXT    NOT NULL,
    subject       TEXT    NOT NULL,
    last_alert_id INTEGER NOT NULL REFERENCES alerts (id),
    last_alert_at TEXT    NOT NULL,
    folded        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (rule, subject)
) WITHOUT ROWID;

-- Security notices to an account's own Telegram accounts (email changed, 2FA disabled, ...).
CREATE TABLE user_notices (
    id               INTEGER PRIMARY KEY,
    created_at       TEXT    NOT NULL,
    telegram_user_id INTEGER NOT NULL,      -- the chat it goes to
    account_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    audit_event_id   INTEGER NOT NULL REFERENCES audit_events (id),
    event_type       TEXT    NOT NULL,
    details          TEXT    NOT NULL,      -- JSON copy of the audit details (no secrets)
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT    NOT NULL,
    last_error       TEXT,
    sent_at          TEXT
);

CREATE INDEX user_notices_due ON user_notices (next_attempt_at) WHERE status = 'pending';

-- Who to tell about an account: the Telegram accounts that logged in to it recently.
CREATE INDEX sessions_by_account_created ON sessions (account_id, created_at);
