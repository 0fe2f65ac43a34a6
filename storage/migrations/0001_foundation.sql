-- Foundation: the tamper-evident audit log.

CREATE TABLE audit_events (
    id               INTEGER PRIMARY KEY,
    ts               TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    severity         TEXT    NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    account_id       INTEGER,
    telegram_user_id INTEGER,
    details          TEXT    NOT NULL,
    prev_hash        TEXT    NOT NULL UNIQUE,  -- UNIQUE: two rows can never extend one link
    hash             TEXT    NOT NULL UNIQUE
);

CREATE INDEX audit_events_account ON audit_events (account_id, id);
CREATE INDEX audit_events_telegram_user ON audit_events (telegram_user_id, id);
CREATE INDEX audit_events_type_ts ON audit_events (event_type, ts);
CREATE INDEX audit_events_ts ON audit_events (ts);

-- The newest link, updated in the same transaction as each append: deleting the newest rows
-- (which a hash chain alone cannot notice) leaves the head pointing at a missing row.
CREATE TABLE audit_head (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    last_id   INTEGER NOT NULL,
    last_hash TEXT    NOT NULL
);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
