-- One row a minute written by the leader, so that a restore drill can tell
-- how recent the restored data is: the newest canary present in a copy
-- restored to time T measures the recovery point actually achieved.
CREATE TABLE backup_canary (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    written_at_us bigint NOT NULL
);
CREATE INDEX backup_canary_written ON backup_canary (written_at_us);
