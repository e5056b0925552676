-- One-time notices of admin actions (a new key's secret), sealed with a key
-- only the browser holds (a cookie), kept minutes at most, taken once by
-- whichever server the next page lands on.
CREATE TABLE notices (
    id         TEXT PRIMARY KEY,
    -- SHA-256 of the session's id: a notice is shown to its session only.
    session    TEXT NOT NULL,
    sealed     BYTEA NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX notices_session ON notices (session);
