-- A keyed audit chain and its anchors (SPEC §6, §8a).
--
-- key_id names the HMAC key a row's link was made under (a fingerprint, never the key); NULL
-- marks a row chained with plain SHA-256 before this migration. Those rows are not rewritten:
-- the first start-up with the key appends AUDIT_CHAIN_KEYED, whose keyed link covers them.
ALTER TABLE audit_events ADD COLUMN key_id TEXT;

-- The chain keys of retired master keys, each sealed (Fernet, bound to its key id) under the
-- newest master key at `verzek rotate-key`, so rows chained under an old key still verify after
-- that key is dropped from ENCRYPTION_OLD_KEYS (and rotate-key re-encrypts them in turn).
CREATE TABLE audit_chain_keys (
    id       INTEGER PRIMARY KEY,
    key_id   TEXT    NOT NULL UNIQUE,
    key_enc  TEXT    NOT NULL,
    added_at TEXT    NOT NULL
);

-- Each anchor is a chain head (row id and link) shown in the admin chat: recorded first, then
-- posted (chat, message id and Telegram's time filled in once). Append-only otherwise.
CREATE TABLE audit_anchors (
    id            INTEGER PRIMARY KEY,
    last_audit_id INTEGER NOT NULL,
    link          TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    recorded_at   TEXT    NOT NULL,
    chat_id       INTEGER,
    message_id    INTEGER,
    posted_at     TEXT
);

CREATE TRIGGER audit_anchors_no_delete BEFORE DELETE ON audit_anchors
BEGIN
    SELECT RAISE(ABORT, 'audit_anchors is append-only');
END;

CREATE TRIGGER audit_anchors_posted_once BEFORE UPDATE ON audit_anchors
WHEN OLD.message_id IS NOT NULL
    OR NEW.id IS NOT OLD.id
    OR NEW.last_audit_id IS NOT OLD.last_audit_id
    OR NEW.link IS NOT OLD.link
    OR NEW.reason IS NOT OLD.reason
    OR NEW.recorded_at IS NOT OLD.recorded_at
BEGIN
    SELECT RAISE(ABORT, 'an anchor is posted once and never changed');
END;
