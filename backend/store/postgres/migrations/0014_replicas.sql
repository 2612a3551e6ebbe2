-- Rate-limit buckets shared by the server processes of one deployment
-- (sign-ins per address and per account, registrations, assistant
-- messages), so that a limit holds for the deployment, not for each
-- replica behind the load balancer. A bucket is its theoretical arrival
-- time in microseconds since the Unix epoch (the generic cell rate
-- algorithm); the key is a hash, never an address or an e-mail address.
CREATE TABLE rate_limits (
    key text PRIMARY KEY,
    tat_us bigint NOT NULL
);
CREATE INDEX rate_limits_tat ON rate_limits (tat_us);

-- Full scans of a knowledge source asked for through any server process;
-- the process that keeps the sources in sync (the leader) compares the count
-- with the last it saw.
ALTER TABLE knowledge_sources ADD COLUMN scan_requests bigint NOT NULL DEFAULT 0;
