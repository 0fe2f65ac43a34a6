-- Payments in USDT TRC20: invoices, submitted transfers, licenses and the wallet ledger.
-- Money is integer micro-USDT everywhere. Rows that grant something (invoices, approved
-- payments, licenses, ledger entries) carry an HMAC-SHA256 signature over their key fields;
-- core never trusts a row whose signature does not verify. Money rows are never cascaded away.

CREATE TABLE invoices (
    id              BIGINT PRIMARY KEY,  -- never reused: /pay names invoices by id
    account_id      BIGINT  NOT NULL REFERENCES users (id),
    plan            TEXT COLLATE "C" NOT NULL,
    tier            TEXT COLLATE "C" NOT NULL,
    days            BIGINT  NOT NULL CHECK (days > 0),
    amount_micro    BIGINT  NOT NULL CHECK (amount_micro > 0),
    receive_address TEXT COLLATE "C" NOT NULL,
    created_at      TEXT COLLATE "C" NOT NULL,
    expires_at      TEXT COLLATE "C" NOT NULL,
    status          TEXT COLLATE "C" NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'expired')),
    signature       TEXT COLLATE "C"                    -- set in the transaction that inserts it
);

CREATE TRIGGER invoices_assign_id BEFORE INSERT ON invoices
    FOR EACH ROW EXECUTE FUNCTION assign_id();

-- Open invoices never share an amount (core also keeps them a whole step apart), so one
-- transfer can only ever match one invoice.
CREATE UNIQUE INDEX invoices_open_amount ON invoices (amount_micro) WHERE status = 'open';
CREATE INDEX invoices_by_account ON invoices (account_id, id);
CREATE INDEX invoices_open_expiry ON invoices (expires_at) WHERE status = 'open';

CREATE TABLE payments (
    id                      BIGINT PRIMARY KEY,
    invoice_id              BIGINT  NOT NULL REFERENCES invoices (id),
    account_id              BIGINT  NOT NULL REFERENCES users (id),
    telegram_user_id        BIGINT  NOT NULL,           -- who submitted it: told about outcomes
    tx_hash                 TEXT COLLATE "C" NOT NULL     -- a transfer pays for one payment, ever
                            CONSTRAINT payments_tx_hash_key UNIQUE
                            CHECK (length(tx_hash) = 64),
    expected_micro          BIGINT  NOT NULL,           -- the invoice amount when submitted
    status                  TEXT COLLATE "C" NOT NULL DEFAULT 'pending'
                            CONSTRAINT payments_status_check CHECK (status IN ('pending', 'approved', 'failed', 'rejected',
                                              'expired')),
    note                    TEXT COLLATE "C" NOT NULL DEFAULT '',  -- last check outcome / decision reason
    submitted_at            TEXT COLLATE "C" NOT NULL,
    checked_at              TEXT COLLATE "C",
    checks                  BIGINT  NOT NULL DEFAULT 0,
    decided_at              TEXT COLLATE "C",
    amount_micro            BIGINT,                    -- amount approved (signed)
    approved_at             TEXT COLLATE "C",
    approved_by_account_id  BIGINT  REFERENCES users (id),  -- NULL: approved by verification
    signature               TEXT COLLATE "C"            -- HMAC over the approval, see core
);

CREATE TRIGGER payments_assign_id BEFORE INSERT ON payments
    FOR EACH ROW EXECUTE FUNCTION assign_id();

CREATE INDEX payments_pending ON payments (checked_at) WHERE status = 'pending';
CREATE INDEX payments_by_account ON payments (account_id, id);
CREATE INDEX payments_by_invoice ON payments (invoice_id);
CREATE INDEX payments_failed_by_account ON payments (account_id, decided_at)
    WHERE status = 'failed';

-- A license is one paid period; an extension is a new row starting where the last one ends.
CREATE TABLE licenses (
    id          BIGINT PRIMARY KEY,
    account_id  BIGINT  NOT NULL REFERENCES users (id),
    payment_id  BIGINT  NOT NULL UNIQUE REFERENCES payments (id),  -- one license per payment
    plan        TEXT COLLATE "C" NOT NULL,
    tier        TEXT COLLATE "C" NOT NULL,
    starts_at   TEXT COLLATE "C" NOT NULL,
    ends_at     TEXT COLLATE "C" NOT NULL CONSTRAINT licenses_ends_check CHECK (ends_at > starts_at),
    created_at  TEXT COLLATE "C" NOT NULL,
    signature   TEXT COLLATE "C"
);

CREATE TRIGGER licenses_assign_id BEFORE INSERT ON licenses
    FOR EACH ROW EXECUTE FUNCTION assign_id();

CREATE INDEX licenses_by_account_end ON licenses (account_id, ends_at);

-- The wallet ledger: signed integer amounts (credits positive, debits negative); a balance is
-- the sum of an account's entries. Generic on purpose: withdrawals add their own kinds.
CREATE TABLE wallet_entries (
    id           BIGINT PRIMARY KEY,
    account_id   BIGINT  NOT NULL REFERENCES users (id),
    amount_micro BIGINT  NOT NULL CHECK (amount_micro <> 0),
    kind         TEXT COLLATE "C" NOT NULL,                      -- e.g. 'referral_commission'
    payment_id   BIGINT  REFERENCES payments (id),      -- what caused it, when a payment did
    created_at   TEXT COLLATE "C" NOT NULL,
    signature    TEXT COLLATE "C"
);

CREATE TRIGGER wallet_entries_assign_id BEFORE INSERT ON wallet_entries
    FOR EACH ROW EXECUTE FUNCTION assign_id();

CREATE INDEX wallet_entries_by_account ON wallet_entries (account_id, id);
-- A payment causes each kind of entry at most once (a commission is never credited twice).
CREATE UNIQUE INDEX wallet_entries_once_per_payment ON wallet_entries (kind, payment_id)
    WHERE payment_id IS NOT NULL;
