-- Withdrawals of wallet balance in USDT TRC20, paid out by an admin by hand.
--
-- A request holds its amount in the wallet ledger at once (a signed negative entry of kind
-- 'withdrawal_hold', made in the same transaction as the balance check), so two requests can
-- never spend the same balance. Completing it releases the hold and books the final debit
-- ('withdrawal_release' + 'withdrawal_debit'); rejecting it releases the hold only. The ledger
-- stays the only source of balances; this table says what each hold was for.
--
-- The request's key fields (id, account, amount, address, time, hold entry) carry an
-- HMAC-SHA256 signature: a row whose signature fails is never paid out or completed.

CREATE TABLE withdrawals (
    id                     BIGINT PRIMARY KEY,  -- never reused: admins name it
    account_id             BIGINT  NOT NULL REFERENCES users (id),
    telegram_user_id       BIGINT  NOT NULL,           -- who asked: told about the outcome
    amount_micro           BIGINT  NOT NULL CHECK (amount_micro > 0),
    address                TEXT COLLATE "C" NOT NULL CHECK (length(address) = 34),  -- TRON base58check
    status                 TEXT COLLATE "C" NOT NULL DEFAULT 'requested'
                           CHECK (status IN ('requested', 'completed', 'rejected')),
    requested_at           TEXT COLLATE "C" NOT NULL,
    hold_entry_id          BIGINT  REFERENCES wallet_entries (id),  -- set with the signature
    decided_at             TEXT COLLATE "C",
    decided_by_account_id  BIGINT  REFERENCES users (id),
    tx_hash                TEXT COLLATE "C" UNIQUE              -- the payout transfer completes one only
                           CHECK (tx_hash IS NULL OR length(tx_hash) = 64),
    reason                 TEXT COLLATE "C" NOT NULL DEFAULT '',  -- why it was rejected (shown to the user)
    signature              TEXT COLLATE "C",
    CHECK ((status = 'completed') = (tx_hash IS NOT NULL))
);

CREATE TRIGGER withdrawals_assign_id BEFORE INSERT ON withdrawals
    FOR EACH ROW EXECUTE FUNCTION assign_id();

CREATE INDEX withdrawals_requested ON withdrawals (id) WHERE status = 'requested';
CREATE INDEX withdrawals_by_account ON withdrawals (account_id, id);
