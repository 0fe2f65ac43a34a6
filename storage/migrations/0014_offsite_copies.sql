-- Off-site copies of the nightly archives (SPEC §8a): one row per archive and place, so a
-- failed upload is retried by the next run and nothing is sent twice. ``target`` is the
-- place as shown ("telegram", "s3://bucket/prefix/"), never a credential.
CREATE TABLE offsite_copies (
    archive     TEXT    NOT NULL,   -- the archive's file name in backups.dir
    target      TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sent', 'too_big', 'gone')),
    size        INTEGER NOT NULL CHECK (size >= 0),  -- when written; a changed file is not sent
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT    NOT NULL,
    last_error  TEXT,
    sent_at     TEXT,
    remote_ref  TEXT,               -- the object key or the Telegram message
    PRIMARY KEY (archive, target)
) WITHOUT ROWID;

CREATE INDEX offsite_copies_pending ON offsite_copies (target, archive) WHERE status = 'pending';
