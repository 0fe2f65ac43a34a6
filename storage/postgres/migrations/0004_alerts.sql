-- Detection and alerts: indexes for constant-cost window counts, the admin alert outbox with
-- its dedupe state, and the outbox of security notices to account owners.

-- Window counts ("how many LOGIN_FAILED for this account since T") read one index range each.
CREATE INDEX audit_events_type_account_ts ON audit_events (event_type, account_id, ts);
CREATE INDEX audit_events_type_telegram_user_ts ON audit_events (event_type, telegram_user_id, ts);

-- Alerts waiting for (or done with) delivery to the admin chat. Never deleted: a row is marked
-- sent only after Telegram accepted it; until then attempts/next_attempt_at drive the backoff.
CREATE TABLE alerts (
    id                  BIGINT PRIMARY KEY,
    created_at          TEXT COLLATE "C" NOT NULL,
    rule                TEXT COLLATE "C" NOT NULL,
    severity            TEXT COLLATE "C" NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    subject             TEXT COLLATE "C" NOT NULL,   -- 'account:12' or 'telegram:345'
    account_id          BIGINT,
    telegram_user_id    BIGINT,
    audit_event_id      BIGINT  NOT NULL REFERENCES audit_events (id),  -- its SUSPICIOUS_ACTIVITY
    evidence            TEXT COLLATE "C" NOT NULL,   -- JSON, no secrets
    folded              BIGINT  NOT NULL DEFAULT 0 CHECK (folded >= 0),  -- before this one
    hits                BIGINT  NOT NULL DEFAULT 1,  -- this one plus those folded into it
    status              TEXT COLLATE "C" NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent')),
    attempts            BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at     TEXT COLLATE "C" NOT NULL,
    last_error          TEXT COLLATE "C",
    sent_at             TEXT COLLATE "C",
    telegram_message_id BIGINT
);

CREATE TRIGGER alerts_assign_id BEFORE INSERT ON alerts
    FOR EACH ROW EXECUTE FUNCTION assign_id();

CREATE INDEX alerts_due ON alerts (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alerts_created ON alerts (created_at);

-- The newest alert per rule and subject, and how many hits were folded since (dedupe).
CREATE TABLE alert_dedupe (
    rule          TEXT COLLATE "C" NOT NULL,
    subject       TEXT COLLATE "C" NOT NULL,
    last_alert_id BIGINT  NOT NULL REFERENCES alerts (id),
    last_alert_at TEXT COLLATE "C" NOT NULL,
    folded        BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (rule, subject)
);

-- Security notices to an account's own Telegram accounts (email changed, 2FA disabled, ...).
CREATE TABLE user_notices (
    id               BIGINT PRIMARY KEY,
    created_at       TEXT COLLATE "C" NOT NULL,
    telegram_user_id BIGINT  NOT NULL,      -- the chat it goes to
    account_id       BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    audit_event_id   BIGINT  NOT NULL REFERENCES audit_events (id),
    event_type       TEXT COLLATE "C" NOT NULL,
    details          TEXT COLLATE "C" NOT NULL,      -- JSON copy of the audit details (no secrets)
    status           TEXT COLLATE "C" NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  TEXT COLLATE "C" NOT NULL,
    last_error       TEXT COLLATE "C",
    sent_at          TEXT COLLATE "C"
);

CREATE TRIGGER user_notices_assign_id BEFORE INSERT ON user_notices
    FOR EACH ROW EXECUTE FUNCTION assign_id();

CREATE INDEX user_notices_due ON user_notices (next_attempt_at) WHERE status = 'pending';

-- Who to tell about an account: the Telegram accounts that logged in to it recently.
CREATE INDEX sessions_by_account_created ON sessions (account_id, created_at);
