-- The payment screen and renewals (issue 17, SPEC §7 and §11).
-- payment_status_messages: where the /pay status message of a payment is, so the re-check job
-- (possibly after a restart) edits it in place as confirmations grow; ``shown`` is the
-- confirmation count the message shows now (-1: none yet), so a round that changes nothing
-- edits nothing.
-- license_reminders: one row per license and threshold (days before its end), inserted
-- before the reminder is sent: the primary key makes it once, across restarts and concurrent
-- job rounds. ``reference`` is the random, opaque name its Renew button carries.

CREATE TABLE payment_status_messages (
    payment_id  BIGINT PRIMARY KEY REFERENCES payments (id),
    chat_id     BIGINT  NOT NULL,
    message_id  BIGINT  NOT NULL,
    shown       BIGINT  NOT NULL DEFAULT -1
);

CREATE TABLE license_reminders (
    license_id        BIGINT  NOT NULL REFERENCES licenses (id),
    days_before       BIGINT  NOT NULL CHECK (days_before > 0),
    reference         TEXT COLLATE "C" NOT NULL UNIQUE,
    telegram_user_id  BIGINT  NOT NULL,
    sent_at           TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (license_id, days_before)
);
