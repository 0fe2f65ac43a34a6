-- Leases (SPEC §13): which bot instance runs the scheduled jobs, and until when. Taken and
-- renewed by a compare-and-set UPDATE (storage/leases_repository.py); an instance that dies
-- stops renewing, and another takes the lease over once expires_at has passed.
CREATE TABLE job_leases (
    name       TEXT COLLATE "C" PRIMARY KEY,   -- what is leased: "jobs" (every scheduled job)
    holder     TEXT COLLATE "C" NOT NULL,      -- the instance holding it (host:pid:random)
    expires_at TEXT COLLATE "C" NOT NULL       -- core.clock.to_iso text, compared as text
);
