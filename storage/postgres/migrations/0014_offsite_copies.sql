-- Off-site copies of the nightly archives (SPEC §8a): one row per archive and place, so a
-- failed upload is retried by the next run and nothing is sent twice. ``target`` is the
-- place as shown ("telegram", "s3://bucket/prefix/"), never a credential.
CREATE TABLE offsite_copies (
    archive     TEXT COLLATE "C" NOT NULL,   -- the archive's file name in backups.dir
    target      TEXT COLLATE "C" NOT NULL,
    status      TEXT COLLATE "C" NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sent', 'too_big', 'gone')),
    size        BIGINT  NOT NULL CHECK (size >= 0),  -- when written; a changed file is not sent
    attempts    BIGINT  NOT NULL DEFAULT 0,
    created_at  TEXT COLLATE "C" NOT NULL,
    last_error  TEXT COLLATE "C",
    sent_at     TEXT COLLATE "C",
    remote_ref  TEXT COLLATE "C",               -- the object key or the Telegram message
    PRIMARY KEY (archive, target)
);

CREATE INDEX offsite_copies_pending ON offsite_copies (target, archive) WHERE status = 'pending';
