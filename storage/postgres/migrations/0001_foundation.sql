-- Foundation: the tamper-evident audit log.
-- PostgreSQL twin of storage/migrations/0001_foundation.sql (every file here mirrors the SQLite
-- migration of the same number: same tables, columns, constraints and indexes; BIGINT for
-- integers, TEXT COLLATE "C" so text compares byte by byte as SQLite's BINARY does, identity
-- ids assigned as SQLite assigns them (below), plpgsql triggers where SQLite has triggers).

-- Ids as SQLite's AUTOINCREMENT gives them: one counter per table (the twin of sqlite_sequence),
-- bumped by the BEFORE INSERT trigger ``<table>_assign_id`` in the inserting transaction, so an
-- insert that fails or rolls back gives its number back and ids stay 1, 2, 3… as on SQLite
-- (users see them: "/pay 2", "payment #3"). A PostgreSQL sequence would skip the numbers of
-- failed inserts. No contention: write units of work hold the fleet's writer lock anyway. An
-- id given explicitly (a copy, a restore) moves the counter past it; ids are never reused.
CREATE TABLE id_counters (
    name TEXT COLLATE "C" PRIMARY KEY,  -- the table
    seq  BIGINT NOT NULL
);

CREATE FUNCTION assign_id() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    given BIGINT := NEW.id;
BEGIN
    INSERT INTO id_counters AS c (name, seq) VALUES (TG_TABLE_NAME, COALESCE(given, 1))
    ON CONFLICT (name) DO UPDATE
        SET seq = CASE WHEN given IS NULL THEN c.seq + 1 ELSE GREATEST(c.seq, given) END
    RETURNING CASE WHEN given IS NULL THEN c.seq ELSE given END INTO NEW.id;
    RETURN NEW;
END;
$$;

CREATE TABLE audit_events (
    id               BIGINT PRIMARY KEY,  -- chosen by the chain (core/audit), never by a sequence
    ts               TEXT COLLATE "C" NOT NULL,
    event_type       TEXT COLLATE "C" NOT NULL,
    severity         TEXT COLLATE "C" NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    account_id       BIGINT,
    telegram_user_id BIGINT,
    details          TEXT COLLATE "C" NOT NULL,
    prev_hash        TEXT COLLATE "C" NOT NULL UNIQUE,  -- UNIQUE: two rows can never extend one link
    hash             TEXT COLLATE "C" NOT NULL UNIQUE
);

CREATE INDEX audit_events_account ON audit_events (account_id, id);
CREATE INDEX audit_events_telegram_user ON audit_events (telegram_user_id, id);
CREATE INDEX audit_events_type_ts ON audit_events (event_type, ts);
CREATE INDEX audit_events_ts ON audit_events (ts);

-- The newest link, updated in the same transaction as each append: deleting the newest rows
-- (which a hash chain alone cannot notice) leaves the head pointing at a missing row.
CREATE TABLE audit_head (
    singleton BIGINT PRIMARY KEY CHECK (singleton = 1),
    last_id   BIGINT  NOT NULL,
    last_hash TEXT COLLATE "C" NOT NULL
);

-- Append-only: every UPDATE or DELETE of a row is refused, and so is TRUNCATE (which skips
-- row triggers; SQLite has no TRUNCATE).
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
