-- Webhook updates already handled (bot/acks.py, SPEC §13, issue 21): twin of the SQLite 0024.
CREATE TABLE handled_updates (
    update_id  BIGINT PRIMARY KEY,
    handled_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX handled_updates_by_time ON handled_updates (handled_at);
