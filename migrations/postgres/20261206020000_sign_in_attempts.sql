-- Sign-in attempts, counted in the database so that every server sees every
-- failure (src/auth/throttle.rs): one row per attempt and key it counts
-- under (the account, the address, the pair), kept for the longest window.
CREATE TABLE sign_in_attempts (
    id  BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL,
    at  BIGINT NOT NULL
);
CREATE INDEX sign_in_attempts_key ON sign_in_attempts (key, at);
CREATE INDEX sign_in_attempts_at ON sign_in_attempts (at);

-- (account, address) pairs that signed in, and when last: the account-wide
-- limit spares them.
CREATE TABLE sign_in_known (
    pair TEXT PRIMARY KEY,
    at   BIGINT NOT NULL
);
