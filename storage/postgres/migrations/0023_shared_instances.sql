-- One truth across instances (SPEC §13, issue 21): twin of the SQLite 0023.
--
-- conversation_state.user_id: whose row it is, so an instance loads ONE user's conversation
-- state before handling that user's update (bot/user_turns.py). Backfilled from the key.
ALTER TABLE conversation_state ADD COLUMN user_id BIGINT NOT NULL DEFAULT 0;
UPDATE conversation_state SET user_id = CAST(key AS BIGINT) WHERE kind = 'user_data';
UPDATE conversation_state SET user_id = CAST(key::jsonb ->> -1 AS BIGINT)
    WHERE kind = 'conversation';
CREATE INDEX conversation_state_by_user ON conversation_state (user_id);

-- What opaque button tokens stand for (bot/button_sheets.py); see the SQLite twin.
CREATE TABLE button_sheets (
    token_hash       TEXT COLLATE "C" PRIMARY KEY,
    store            TEXT COLLATE "C" NOT NULL,
    sheet_id         TEXT COLLATE "C" NOT NULL,
    telegram_user_id BIGINT NOT NULL,
    created          BIGINT NOT NULL,
    expires_at       TEXT COLLATE "C" NOT NULL,
    sealed           TEXT COLLATE "C" NOT NULL
);
CREATE INDEX button_sheets_by_sheet ON button_sheets (sheet_id);
CREATE INDEX button_sheets_by_user ON button_sheets (store, telegram_user_id, created);
CREATE INDEX button_sheets_by_expiry ON button_sheets (expires_at);
