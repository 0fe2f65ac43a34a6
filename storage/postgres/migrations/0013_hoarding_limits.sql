-- Who asked: so one person cannot hoard invoices or accounts (issue 17, SPEC §7).
-- users.registered_telegram_user_id is the Telegram user whose /register created the account
-- (core counts them against security.accounts_per_telegram_user); older accounts take it from
-- their REGISTERED audit event. invoices.telegram_user_id is the Telegram user who asked for
-- the invoice (core keeps one open invoice per plan per Telegram user, whatever the account).

ALTER TABLE users ADD COLUMN registered_telegram_user_id BIGINT;

UPDATE users SET registered_telegram_user_id = (
    SELECT telegram_user_id FROM audit_events
    WHERE event_type = 'REGISTERED' AND account_id = users.id
    ORDER BY id LIMIT 1
);

CREATE INDEX users_registered_by ON users (registered_telegram_user_id);

ALTER TABLE invoices ADD COLUMN telegram_user_id BIGINT;

CREATE INDEX invoices_open_by_telegram_user ON invoices (telegram_user_id, plan)
    WHERE status = 'open';
