-- Renewal reminders the owner turned off (/settings, reminders; SPEC §11): the reminder is still
-- recorded under its (license, threshold) key, so it is decided once and never retried, but
-- marked skipped: nothing was sent, and its reference names no Renew button.
ALTER TABLE license_reminders
    ADD COLUMN skipped BIGINT NOT NULL DEFAULT 0 CHECK (skipped IN (0, 1));
