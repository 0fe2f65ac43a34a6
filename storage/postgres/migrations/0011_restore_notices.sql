-- Telegram users a restore logged out, to be told why by the bot's outbox job (SPEC §8): a
-- restore run from the command line, with the bot stopped, has nobody else to tell them. No
-- foreign keys: the account of such a user may not exist in the restored copy at all.
CREATE TABLE restore_notices (
    telegram_user_id   BIGINT PRIMARY KEY,
    archive_created_at TEXT COLLATE "C" NOT NULL,   -- when the restored backup was taken
    created_at         TEXT COLLATE "C" NOT NULL,
    attempts           BIGINT  NOT NULL DEFAULT 0
);
