-- A keyed audit chain and its anchors (SPEC §6, §8a).
--
-- key_id names the HMAC key a row's link was made under (a fingerprint, never the key); NULL
-- marks a row chained with plain SHA-256 before this migration. Those rows are not rewritten:
-- the first start-up with the key appends AUDIT_CHAIN_KEYED, whose keyed link covers them.
ALTER TABLE audit_events ADD COLUMN key_id TEXT COLLATE "C";

-- The chain keys of retired master keys, each sealed (Fernet, bound to its key id) under the
-- newest master key at `verzek rotate-key`, so rows chained under an old key still verify after
-- that key is dropped from ENCRYPTION_OLD_KEYS (and rotate-key re-encrypts them in turn).
CREATE TABLE audit_chain_keys (
    id       BIGINT PRIMARY KEY,
    key_id   TEXT COLLATE "C" NOT NULL UNIQUE,
    key_enc  TEXT COLLATE "C" NOT NULL,
    added_at TEXT COLLATE "C" NOT NULL
);

CREATE TRIGGER audit_chain_keys_assign_id BEFORE INSERT ON audit_chain_keys
    FOR EACH ROW EXECUTE FUNCTION assign_id();

-- Each anchor is a chain head (row id and link) shown in the admin chat: recorded first, then
-- posted (chat, message id and Telegram's time filled in once). Append-only otherwise.
CREATE TABLE audit_anchors (
    id            BIGINT PRIMARY KEY,
    last_audit_id BIGINT  NOT NULL,
    link          TEXT COLLATE "C" NOT NULL,
    reason        TEXT COLLATE "C" NOT NULL,
    recorded_at   TEXT COLLATE "C" NOT NULL,
    chat_id       BIGINT,
    message_id    BIGINT,
    posted_at     TEXT COLLATE "C"
);

CREATE TRIGGER audit_anchors_assign_id BEFORE INSERT ON audit_anchors
    FOR EACH ROW EXECUTE FUNCTION assign_id();

CREATE FUNCTION audit_anchors_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_anchors is append-only' USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER audit_anchors_no_delete BEFORE DELETE ON audit_anchors
    FOR EACH ROW EXECUTE FUNCTION audit_anchors_append_only();

-- TRUNCATE skips row triggers (SQLite has none): refused as a DELETE is.
CREATE TRIGGER audit_anchors_no_truncate BEFORE TRUNCATE ON audit_anchors
    FOR EACH STATEMENT EXECUTE FUNCTION audit_anchors_append_only();

CREATE FUNCTION audit_anchors_posted_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'an anchor is posted once and never changed'
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER audit_anchors_posted_once BEFORE UPDATE ON audit_anchors
    FOR EACH ROW
    WHEN (OLD.message_id IS NOT NULL
        OR NEW.id IS DISTINCT FROM OLD.id
        OR NEW.last_audit_id IS DISTINCT FROM OLD.last_audit_id
        OR NEW.link IS DISTINCT FROM OLD.link
        OR NEW.reason IS DISTINCT FROM OLD.reason
        OR NEW.recorded_at IS DISTINCT FROM OLD.recorded_at)
    EXECUTE FUNCTION audit_anchors_posted_once();
