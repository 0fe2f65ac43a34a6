-- Payments in USDT TRC20: invoices, submitted transfers, licenses and the wallet ledger.
-- Money is integer micro-USDT everywhere. Rows that grant something (invoices, approved
-- payments, licenses, ledger entries) carry an HMAC-SHA256 signature over their key fields;
-- core never trusts a row whose signature does not verify. Money rows are never cascaded away.

CREATE TABLE invoices (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: /pay names invoices by id
    account_id      INTEGER NOT NULL REFERENCES users (id),
    plan            TEXT    NOT NULL,
    tier            TEXT    NOT NULL,
    days            INTEGER NOT NULL CHECK (days > 0),
    amount_micro    INTEGER NOT NULL CHECK (amount_micro > 0),
    receive_address TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    expires_at      TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'expired')),
    signature       TEXT                                -- set in the transaction that inserts it
);

-- Open invoices never share an amount (core also keeps them a whole step apart), so one
-- transfer can only ever match one invoice.
CREATE UNIQUE INDEX invoices_open_amount ON invoices (amount_micro) WHERE status = 'open';
CREATE INDEX invoices_by_account ON invoices (account_id, id);
CREATE INDEX invoices_open_expiry ON invoices (expires_at) WHERE status = 'open';

CREATE TABLE payments (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id              INTEGER NOT NULL REFERENCES invoices (id),
    account_id              INTEGER NOT NULL REFERENCES users (id),
    telegram_user_id        INTEGER NOT NULL,           -- who submitted it: told about outcomes
    tx_hash                 TEXT    NOT NULL UNIQUE     -- a transfer pays for one payment, ever
                            CHECK (length(tx_hash) = 64),
    expected_micro          INTEGER NOT NULL,           -- the invoice amount when submitted
    status                  TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'approved', 'failed', 'rejected',
                                              'expired')),
    note                    TEXT    NOT NULL DEFAULT '',  -- last check outcome / decision reason
    submitted_at            TEXT    NOT NULL,
    checked_at              TEXT,
    checks                  INTEGER NOT NULL DEFAULT 0,
    decided_at              TEXT,
    amount_micro            INTEGER,                    -- amount approved (signed)
    approved_at             TEXT,
    approved_by_account_id  INTEGER REFERENCES users (id),  -- NULL: approved by verification
    signature               TEXT                        -- HMAC over the approval, see core
);

CREATE INDEX payments_pending ON payments (checked_at) WHERE status = 'pending';
CREATE INDEX payments_by_account ON payments (account_id, id);
CREATE INDEX payments_by_invoice ON payments (invoice_id);
CREATE INDEX payments_failed_by_account ON payments (account_id, decided_at)
    WHERE status = 'failed';

-- A license is one paid period; an extension is a new row starting where the last one ends.
CREATE TABLE licenses (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES users (id),
    payment_id  INTEGER NOT NULL UNIQUE REFERENCES payments (id),  -- one license per payment
    plan        TEXT    NOT NULL,
    tier        TEXT    NOT NULL,
    starts_at   TEXT    NOT NULL,
    ends_at     TEXT    NOT NULL CHECK (ends_at > starts_at),
    created_at  TEXT    NOT NULL,
    signature   TEXT
);

CREATE INDEX licenses_by_account_end ON licenses (account_id, ends_at);

-- The wallet ledger: signed integer amounts (credits positive, debits negative); a balance is
-- the sum of an account's entries. Generic on purpose: withdrawals add their own kinds.
CREATE TABLE wallet_entries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   INTEGER NOT NULL REFERENCES users (id),
    amount_micro INTEGER NOT NULL CHECK (amount_micro <> 0),
    kind         TEXT    NOT NULL,                      -- e.g. 'referral_commission'
    payment_id   INTEGER REFERENCES payments (id),      -- what caused it, when a payment did
    created_at   TEXT    NOT NULL,
    signature    TEXT
);

CREATE INDEX wallet_entries_by_account ON wallet_entries (account_id, id);
-- A payment causes each kind of entry at most once (a commission is never credited twice).
CREATE UNIQUE INDEX wallet_entries_once_per_payment ON wallet_entries (kind, payment_id)
    WHERE payment_id IS NOT NULL;
