-- Finding payments without a hash (issue 17, SPEC §7): the bot reads TronScan's list of USDT
-- transfers to the receive address and matches them to invoices by their unique amount.
-- watch_cursor: how far that list has been read completely, per address (read_to_ms, a block
-- time in ms), so a round reads only a little behind it. While a window held more transfers
-- than one round reads (newest first), backlog_end_ms is how far down it was read and
-- backlog_top_ms its end: the next rounds read the older part, then read_to_ms = the top. watched_transfers: each transaction hash seen there,
-- once, with what became of it (retry: fits an invoice, still to confirm; matched: a payment
-- holds it; known: a decided payment held it already; unmatched: no invoice takes it, listed
-- in the admins' hourly digest, alerted_at set once it was).

CREATE TABLE watch_cursor (
    receive_address  TEXT COLLATE "C" PRIMARY KEY,
    read_to_ms       BIGINT  NOT NULL,
    backlog_end_ms   BIGINT,
    backlog_top_ms   BIGINT,
    updated_at       TEXT COLLATE "C" NOT NULL
);

CREATE TABLE watched_transfers (
    tx_hash           TEXT COLLATE "C" PRIMARY KEY CHECK (length(tx_hash) = 64),
    to_address        TEXT COLLATE "C" NOT NULL,
    contract_address  TEXT COLLATE "C" NOT NULL,
    amount_micro      BIGINT,                      -- NULL: the list gave no whole number
    block_ms          BIGINT  NOT NULL,
    seen_at           TEXT COLLATE "C" NOT NULL,
    state             TEXT COLLATE "C" NOT NULL
                      CHECK (state IN ('retry', 'matched', 'known', 'unmatched')),
    reason            TEXT COLLATE "C" NOT NULL DEFAULT '',
    invoice_id        BIGINT  REFERENCES invoices (id),
    payment_id        BIGINT  REFERENCES payments (id),
    attempts          BIGINT  NOT NULL DEFAULT 0,
    alerted_at        TEXT COLLATE "C"
);

CREATE INDEX watched_transfers_retry ON watched_transfers (attempts, seen_at)
    WHERE state = 'retry';
CREATE INDEX watched_transfers_unalerted ON watched_transfers (seen_at)
    WHERE state = 'unmatched' AND alerted_at IS NULL;
CREATE INDEX invoices_by_address_time ON invoices (receive_address, expires_at);
