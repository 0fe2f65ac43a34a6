-- migrator: foreign_keys off
-- Telegram Stars as a second way to pay (issue 20, SPEC §12).
-- stars_invoices: one per "Pay with Stars" link. ``reference`` is random (the invoice's name in
-- the signed payload Telegram carries back), never the guessable id. ``status``: open (no
-- payment yet), subscribed (paid; renewals come on it), closed (the subscription ended).
-- stars_payments: one per successful_payment (first and each renewal); the charge id is
-- UNIQUE, so a payment grants at most once however often Telegram (or anyone) repeats it.
-- licenses: payment_id becomes NULL for a license bought with Stars, which names its
-- stars_payment_id instead (exactly one of the two). SQLite cannot drop NOT NULL in place, so
-- the table is rebuilt (https://www.sqlite.org/lang_altertable.html#otheralter); foreign keys
-- are off while this runs and checked before it commits. A refunded license may end where it
-- starts (zero length: it never counts).

CREATE TABLE stars_invoices (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    reference         TEXT    NOT NULL UNIQUE,
    account_id        INTEGER NOT NULL REFERENCES users (id),
    telegram_user_id  INTEGER NOT NULL,
    plan              TEXT    NOT NULL,
    tier              TEXT    NOT NULL,
    days              INTEGER NOT NULL CHECK (days > 0),
    price_stars       INTEGER NOT NULL CHECK (price_stars > 0),
    created_at        TEXT    NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'open'
                      CHECK (status IN ('open', 'subscribed', 'closed')),
    signature         TEXT
);
CREATE INDEX stars_invoices_by_account ON stars_invoices (account_id, id);

CREATE TABLE stars_payments (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id               INTEGER NOT NULL REFERENCES stars_invoices (id),
    account_id               INTEGER NOT NULL REFERENCES users (id),
    telegram_user_id         INTEGER NOT NULL,
    charge_id                TEXT    NOT NULL UNIQUE,
    amount_stars             INTEGER NOT NULL CHECK (amount_stars > 0),
    is_recurring             INTEGER NOT NULL CHECK (is_recurring IN (0, 1)),
    subscription_expires_at  TEXT,
    approved_at              TEXT    NOT NULL,
    status                   TEXT    NOT NULL DEFAULT 'approved'
                             CHECK (status IN ('approved', 'refunded')),
    refunded_at              TEXT,
    renewal_cancelled        INTEGER NOT NULL DEFAULT 0 CHECK (renewal_cancelled IN (0, 1)),
    signature                TEXT
);
CREATE INDEX stars_payments_by_account ON stars_payments (account_id, id);

CREATE TABLE licenses_rebuilt (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id        INTEGER NOT NULL REFERENCES users (id),
    payment_id        INTEGER UNIQUE REFERENCES payments (id),
    stars_payment_id  INTEGER UNIQUE REFERENCES stars_payments (id),
    plan              TEXT    NOT NULL,
    tier              TEXT    NOT NULL,
    starts_at         TEXT    NOT NULL,
    ends_at           TEXT    NOT NULL CHECK (ends_at >= starts_at),
    created_at        TEXT    NOT NULL,
    signature         TEXT,
    CHECK ((payment_id IS NULL) <> (stars_payment_id IS NULL))
);

INSERT INTO licenses_rebuilt (id, account_id, payment_id, plan, tier, starts_at, ends_at,
                              created_at, signature)
SELECT id, account_id, payment_id, plan, tier, starts_at, ends_at, created_at, signature
FROM licenses;

DELETE FROM sqlite_sequence WHERE name = 'licenses_rebuilt';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'licenses_rebuilt', seq FROM sqlite_sequence WHERE name = 'licenses';

DROP TABLE licenses;
ALTER TABLE licenses_rebuilt RENAME TO licenses;

CREATE INDEX licenses_by_account_end ON licenses (account_id, ends_at);
