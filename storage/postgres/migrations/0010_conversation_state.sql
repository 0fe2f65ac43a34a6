-- Conversation state that survives a restart (bot/persistence.py): where each user is in a
-- flow, and what the flow kept (user_data). Every value is JSON sealed with a key derived
-- from the master key (purpose "conversation-state") and bound to its row (kind, name, key):
-- a row that was edited or copied from another row fails to open and is dropped, never
-- trusted. Nothing here is ever unpickled.

CREATE TABLE conversation_state (
    kind        TEXT COLLATE "C" NOT NULL CHECK (kind IN ('user_data', 'conversation')),
    name        TEXT COLLATE "C" NOT NULL,   -- the conversation's name; '' for user_data
    key         TEXT COLLATE "C" NOT NULL,   -- JSON: the user id, or the conversation key [chat, user]
    sealed      TEXT COLLATE "C" NOT NULL,   -- Fernet token of the JSON value and the time it was written
    updated_at  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (kind, name, key)
);
