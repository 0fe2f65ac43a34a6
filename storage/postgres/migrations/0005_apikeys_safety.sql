-- Exchange API keys (encrypted) and the platform safety state (the kill switch).

-- One row per exchange key of an account. Key, secret and passphrase are Fernet tokens sealed
-- to (account, "apikey.<column>#<row id>"), so a token copied to another row or column fails.
-- key_hint holds the last 4 characters of the key only, for lists ("…abcd").
CREATE TABLE api_keys (
    id             BIGINT PRIMARY KEY,  -- never reused: an old id never names a new key
    account_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    exchange       TEXT COLLATE "C" NOT NULL
                   CHECK (exchange IN ('binance', 'bybit', 'okx', 'kucoin', 'other')),
    label          TEXT COLLATE "C" NOT NULL CHECK (length(label) BETWEEN 1 AND 32),
    key_enc        TEXT COLLATE "C" NOT NULL,
    secret_enc     TEXT COLLATE "C" NOT NULL,
    passphrase_enc TEXT COLLATE "C",                               -- NULL for exchanges without one
    key_hint       TEXT COLLATE "C" NOT NULL CHECK (length(key_hint) <= 4),
    created_at     TEXT COLLATE "C" NOT NULL,
    updated_at     TEXT COLLATE "C"
);

CREATE TRIGGER api_keys_assign_id BEFORE INSERT ON api_keys
    FOR EACH ROW EXECUTE FUNCTION assign_id();

-- The same exchange + label (case-insensitive) names one key: adding it again replaces it.
-- SQLite's NOCASE folds ASCII letters only; so does lower() under the C collation.
CREATE UNIQUE INDEX api_keys_by_account_label ON api_keys (account_id, exchange, lower(label));

-- Platform-wide switches, one row each ('killswitch'). A missing row means off.
CREATE TABLE safety_state (
    name                TEXT COLLATE "C" PRIMARY KEY,
    active              BIGINT  NOT NULL CHECK (active IN (0, 1)),
    reason              TEXT COLLATE "C" NOT NULL,
    changed_at          TEXT COLLATE "C" NOT NULL,
    changed_by_account  BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    changed_by_telegram BIGINT
);
