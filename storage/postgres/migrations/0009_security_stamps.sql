-- Per-account security state that flows are checked against (SPEC §10).
--
-- stamp: a random value replaced by every change that must end the account's pending flows
-- and login attempts (password, email or 2FA change, logout, restore). A flow, a re-auth
-- proof and a login attempt carry the stamp they began under; the committing transaction of
-- their final step refuses when it differs. Random, not a counter, so a restored (older)
-- database can never bring an old value back. No row means the stamp '' (nothing changed yet).
-- stamp_reason says why it was last replaced, so the user is told why their step ended.
--
-- changed_at / change_kind: the last change that starts the withdrawal cool-down (2FA on,
-- off or new backup codes; password or email changed).

CREATE TABLE account_security (
    account_id   BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    stamp        TEXT COLLATE "C" NOT NULL,
    stamp_reason TEXT COLLATE "C" NOT NULL,
    stamp_at     TEXT COLLATE "C" NOT NULL,
    changed_at   TEXT COLLATE "C",
    change_kind  TEXT COLLATE "C"
);
