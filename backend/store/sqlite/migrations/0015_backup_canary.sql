-- One row a minute written by the server, so that a restore drill can tell
-- how recent the restored data is: the newest canary present in a copy
-- restored to time T measures the recovery point actually achieved.
CREATE TABLE backup_canary (
    id INTEGER PRIMARY KEY,
    written_at_us INTEGER NOT NULL
) STRICT;
CREATE INDEX backup_canary_written ON backup_canary (written_at_us);
