-- One truth across instances (SPEC §13, issue 21).
--
-- conversation_state.user_id: whose row it is, so an instance loads ONE user's conversation
-- state before handling that user's update (bot/user_turns.py) instead of everything at start.
-- Backfilled from the key: the user id for user_data rows, the key's last element (PTB's
-- conversation key ends with the user) for conversation rows.
ALTER TABLE conversation_state ADD COLUMN user_id INTEGER NOT NULL DEFAULT 0;
UPDATE conversation_state SET user_id = CAST(key AS INTEGER) WHERE kind = 'user_data';
UPDATE conversation_state SET user_id = CAST(json_extract(key, '$[#-1]') AS INTEGER)
    WHERE kind = 'conversation' AND json_valid(key);
CREATE INDEX conversation_state_by_user ON conversation_state (user_id);

-- What opaque button tokens stand for (bot/button_sheets.py), so any instance resolves a
-- button another one showed. One row per token; a sheet (one message of buttons) is the rows
-- sharing sheet_id. The token itself is not stored, only its SHA-256: the table does not let
-- a reader press anyone's buttons. `sealed` is the sheet's JSON, encrypted under the purpose
-- "button-sheet" and bound to (store, token_hash): an edited or moved row does not open.
CREATE TABLE button_sheets (
    token_hash       TEXT PRIMARY KEY,
    store            TEXT NOT NULL,     -- which buttons: "pk:", "act:", "adm:audit:" ...
    sheet_id         TEXT NOT NULL,
    telegram_user_id INTEGER NOT NULL,  -- who the sheet was shown to (the cap is per user)
    created          INTEGER NOT NULL,  -- order of sheets of one user (oldest dropped first)
    expires_at       TEXT NOT NULL,     -- core.clock.to_iso text, compared as text
    sealed           TEXT NOT NULL
);
CREATE INDEX button_sheets_by_sheet ON button_sheets (sheet_id);
CREATE INDEX button_sheets_by_user ON button_sheets (store, telegram_user_id, created);
CREATE INDEX button_sheets_by_expiry ON button_sheets (expires_at);
