-- Exchange API keys (encrypted) and the platform safety state (the kill switch).

-- One row per exchange key of an account. Key, secret and passphrase are Fernet tokens sealed
-- to (account, "apikey.<column>#<row id>"), so a token copied to another row or column fails.
-- key_hint holds the last 4 characters of the key only, for lists ("…abcd").
CREATE TABLE api_keys (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: an old id never names a new key
    account_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    exchange       TEXT    NOT NULL
                   CHECK (exchange IN ('binance', 'bybit', 'okx', 'kucoin', 'other')),
    label          TEXT    NOT NULL CHECK (length(label) BETWEEN 1 AND 32),
    key_enc        TEXT    NOT NULL,
    secret_enc     TEXT    NOT NULL,
    passphrase_enc TEXT,                               -- NULL for exchanges without one
    key_hint       TEXT    NOT NULL CHECK (length(key_hint) <= 4),
    created_at     TEXT    NOT NULL,
    updated_at     TEXT
);

-- The same exchange + label (case-insensitive) names one key: adding it again replaces it.
CREATE UNIQUE INDEX api_keys_by_account_label ON api_keys (account_id, exchange, label COLLATE NOCASE);

-- Platform-wide switches, one row each ('killswitch'). A missing row means off.
CREATE TABLE safety_state (
    name                TEXT    PRIMARY KEY,
    active              INTEGER NOT NULL CHECK (active IN (0, 1)),
    reason              TEXT    NOT NULL,
    changed_at          TEXT    NOT NULL,
    changed_by_account  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    changed_by_telegram INTEGER
) WITHOUT ROWID;
