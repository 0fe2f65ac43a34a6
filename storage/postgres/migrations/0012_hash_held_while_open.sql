-- A transaction hash is held only by a payment that may still pay, or has paid, with it, so a
-- front-runner whose payment failed (the transfer did not fit their invoice) cannot burn the
-- real payer's hash (issue 17). The plain UNIQUE on payments.tx_hash becomes a partial unique
-- index. SQLite rebuilds the table for this; PostgreSQL alters the constraints in place (ids,
-- their sequence and the foreign keys that point at payments stay as they are).
-- The statuses 'partial' (an underpayment waiting for its top-up) and 'review' (an admin
-- decides) are allowed already, and hold the hash like 'pending': their transfer is spoken for.

ALTER TABLE payments DROP CONSTRAINT payments_tx_hash_key;

ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('pending', 'approved', 'failed', 'rejected', 'expired', 'partial',
                      'review'));

-- One transfer pays one invoice: at most one payment holds a hash. Failed, rejected and
-- expired payments let go of it.
CREATE UNIQUE INDEX payments_tx_hash_held ON payments (tx_hash)
    WHERE status IN ('pending', 'approved', 'partial', 'review');
CREATE INDEX payments_by_tx_hash ON payments (tx_hash);
