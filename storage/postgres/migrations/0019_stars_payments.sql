-- Telegram Stars as a second way to pay (issue 20, SPEC §12).
-- stars_invoices: one per "Pay with Stars" link. ``reference`` is random (the invoice's name in
-- the signed payload Telegram carries back), never the guessable id. ``status``: open (no
-- payment yet), subscribed (paid; renewals come on it), closed (the subscription ended).
-- stars_payments: one per successful_payment (first and each renewal); the charge id is
-- UNIQUE, so a payment grants at most once however often Telegram (or anyone) repeats it.
-- licenses: payment_id becomes NULL for a license bought with Stars, which names its
-- stars_payment_id instead (exactly one of the two). SQLite rebuilds the table for this;
-- PostgreSQL alters it in place (the new column comes last here, after signature). A refunded
-- license may end where it starts (zero length: it never counts).

CREATE TABLE stars_invoices (
    id                BIGINT PRIMARY KEY,
    reference         TEXT COLLATE "C" NOT NULL UNIQUE,
    account_id        BIGINT  NOT NULL REFERENCES users (id),
    telegram_user_id  BIGINT  NOT NULL,
    plan              TEXT COLLATE "C" NOT NULL,
    tier              TEXT COLLATE "C" NOT NULL,
    days              BIGINT  NOT NULL CHECK (days > 0),
    price_stars       BIGINT  NOT NULL CHECK (price_stars > 0),
    created_at        TEXT COLLATE "C" NOT NULL,
    status            TEXT COLLATE "C" NOT NULL DEFAULT 'open'
                      CHECK (status IN ('open', 'subscribed', 'closed')),
    signature         TEXT COLLATE "C"
);

CREATE TRIGGER stars_invoices_assign_id BEFORE INSERT ON stars_invoices
    FOR EACH ROW EXECUTE FUNCTION assign_id();
CREATE INDEX stars_invoices_by_account ON stars_invoices (account_id, id);

CREATE TABLE stars_payments (
    id                       BIGINT PRIMARY KEY,
    invoice_id               BIGINT  NOT NULL REFERENCES stars_invoices (id),
    account_id               BIGINT  NOT NULL REFERENCES users (id),
    telegram_user_id         BIGINT  NOT NULL,
    charge_id                TEXT COLLATE "C" NOT NULL UNIQUE,
    amount_stars             BIGINT  NOT NULL CHECK (amount_stars > 0),
    is_recurring             BIGINT  NOT NULL CHECK (is_recurring IN (0, 1)),
    subscription_expires_at  TEXT COLLATE "C",
    approved_at              TEXT COLLATE "C" NOT NULL,
    status                   TEXT COLLATE "C" NOT NULL DEFAULT 'approved'
                             CHECK (status IN ('approved', 'refunded')),
    refunded_at              TEXT COLLATE "C",
    renewal_cancelled        BIGINT  NOT NULL DEFAULT 0 CHECK (renewal_cancelled IN (0, 1)),
    signature                TEXT COLLATE "C"
);

CREATE TRIGGER stars_payments_assign_id BEFORE INSERT ON stars_payments
    FOR EACH ROW EXECUTE FUNCTION assign_id();
CREATE INDEX stars_payments_by_account ON stars_payments (account_id, id);

ALTER TABLE licenses ALTER COLUMN payment_id DROP NOT NULL;
ALTER TABLE licenses ADD COLUMN stars_payment_id BIGINT
    CONSTRAINT licenses_stars_payment_id_key UNIQUE REFERENCES stars_payments (id);
ALTER TABLE licenses DROP CONSTRAINT licenses_ends_check;
ALTER TABLE licenses ADD CONSTRAINT licenses_ends_check CHECK (ends_at >= starts_at);
ALTER TABLE licenses ADD CONSTRAINT licenses_paid_once
    CHECK ((payment_id IS NULL) <> (stars_payment_id IS NULL));
