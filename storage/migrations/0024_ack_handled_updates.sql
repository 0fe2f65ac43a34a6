-- Webhook updates already handled (bot/acks.py, SPEC §13, issue 21).
--
-- In webhook mode an update is answered 200 only once it was handled, so Telegram redelivers
-- what an instance killed mid-update had accepted; this table lets any instance drop a
-- redelivered update that was handled already. One row per update id, kept a day (Telegram
-- keeps an unanswered update for 24 hours), swept by its time.
CREATE TABLE handled_updates (
    update_id  INTEGER PRIMARY KEY,
    handled_at TEXT NOT NULL     -- core.clock.to_iso text, compared as text
);
CREATE INDEX handled_updates_by_time ON handled_updates (handled_at);
