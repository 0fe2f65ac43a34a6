-- A wallet entry caused by a Telegram Stars payment names it (issue 20, SPEC §12): the
-- referral commission a Stars payment credits, and the reversal a refund of that payment
-- writes. ``payment_id`` references USDT payments only, so Stars entries had no link at all
-- and a refund could not find the commission to take back. Each kind of entry at most once per
-- Stars payment (a commission is never credited twice, nor taken back twice).
-- The link is not covered by the entry's wallet_entry/v1 signature (changing the list would
-- void every stored signature); the refund cross-checks it against signed fields instead (the
-- entry's account is the payer's referrer, its time the payment's approval time).
ALTER TABLE wallet_entries ADD COLUMN stars_payment_id BIGINT REFERENCES stars_payments (id);

CREATE UNIQUE INDEX wallet_entries_once_per_stars_payment
    ON wallet_entries (kind, stars_payment_id) WHERE stars_payment_id IS NOT NULL;
