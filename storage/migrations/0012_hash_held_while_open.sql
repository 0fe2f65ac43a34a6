-- migrator: foreign_keys off
-- A transaction hash is held only by a payment that may still pay, or has paid, with it, so a
-- front-runner whose payment failed (the transfer did not fit their invoice) cannot burn the
-- real payer's hash (issue 17). The plain UNIQUE on payments.tx_hash becomes a partial unique
-- index. SQLite cannot drop a column constraint in place, so the table is rebuilt as
-- https://www.sqlite.org/lang_altertable.html#otheralter describes: foreign keys are off while
-- this runs (the first line asks the migrator), and it checks them before committing.
-- The statuses 'partial' (an underpayment waiting for its top-up) and 'review' (an admin
-- decides) are allowed already, and hold the hash like 'pending': their transfer is spoken for.

CREATE TABLE payments_rebuilt (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id              INTEGER NOT NULL REFERENCES invoices (id),
    account_id              INTEGER NOT NULL REFERENCES users (id),
    telegram_user_id        INTEGER NOT NULL,           -- who submitted it: told about outcomes
    tx_hash                 TEXT    NOT NULL            -- unique while held, see the index below
                            CHECK (length(tx_hash) = 64),
    expected_micro          INTEGER NOT NULL,           -- the invoice amount when submitted
    status                  TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'approved', 'failed', 'rejected',
                                              'expired', 'partial', 'review')),
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

INSERT INTO payments_rebuilt (id, invoice_id, account_id, telegram_user_id, tx_hash,
    expected_micro, status, note, submitted_at, checked_at, checks, decided_at, amount_micro,
    approved_at, approved_by_account_id, signature)
SELECT id, invoice_id, account_id, telegram_user_id, tx_hash, expected_micro, status, note,
    submitted_at, checked_at, checks, decided_at, amount_micro, approved_at,
    approved_by_account_id, signature
FROM payments;

-- The AUTOINCREMENT counter moves with the rows: payment ids are never reused.
DELETE FROM sqlite_sequence WHERE name = 'payments_rebuilt';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'payments_rebuilt', seq FROM sqlite_sequence WHERE name = 'payments';

DROP TABLE payments;
ALTER TABLE payments_rebuilt RENAME TO payments;

-- One transfer pays one invoice: at most one payment holds a hash. Failed, rejected and
-- expired payments let go of it.
CREATE UNIQUE INDEX payments_tx_hash_held ON payments (tx_hash)
    WHERE status IN ('pending', 'approved', 'partial', 'review');
CREATE INDEX payments_by_tx_hash ON payments (tx_hash);
CREATE INDEX payments_pending ON payments (checked_at) WHERE status = 'pending';
CREATE INDEX payments_by_account ON payments (account_id, id);
CREATE INDEX payments_by_invoice ON payments (invoice_id);
CREATE INDEX payments_failed_by_account ON payments (account_id, decided_at)
    WHERE status = 'failed';
