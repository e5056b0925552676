-- Tamper evidence (docs/integrity.md). Every record is a link of the hash
-- chain of its workspace and kind, written in the record's transaction:
-- `content` is SHA-256 of the record's canonical form, `hash` is
-- SHA-256(previous link's hash || content), the first link's previous hash
-- 32 zero bytes. Links live beside the records, not in them, so a record
-- deleted behind Trail's back leaves its link (and id) behind.
CREATE TABLE chain_links (
    workspace_id INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    record_id    BLOB NOT NULL,
    content      BLOB NOT NULL,
    hash         BLOB NOT NULL,
    PRIMARY KEY (workspace_id, kind, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX chain_links_record ON chain_links (record_id);

-- Each chain's last link, and where retention cut it: links up to `cut_seq`
-- were removed with their records, `cut_hash` is the hash of link `cut_seq`;
-- the purge signs the cut (`cut_signature` over chain, seq, hash, `cut_at`).
CREATE TABLE chain_heads (
    workspace_id INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    hash         BLOB NOT NULL,
    cut_seq      INTEGER NOT NULL DEFAULT 0,
    cut_hash     BLOB,
    cut_at       INTEGER,
    cut_signature TEXT,
    PRIMARY KEY (workspace_id, kind)
);

-- Signed digests of the chains' heads (Ed25519 over the canonical form of
-- workspace_id, kind, seq, head, signed_at and the previous digest's
-- signature). Hex text: few rows, easy to compare by hand.
CREATE TABLE digests (
    workspace_id INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    head         TEXT NOT NULL,
    signed_at    INTEGER NOT NULL,
    previous     TEXT,
    signature    TEXT NOT NULL,
    public_key   TEXT NOT NULL,
    PRIMARY KEY (workspace_id, kind, seq)
);

-- The last verification, for the health check.
CREATE TABLE integrity_status (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at INTEGER NOT NULL,
    records    INTEGER NOT NULL,
    problems   INTEGER NOT NULL,
    detail     TEXT NOT NULL
);

-- Records stored before this migration are chained once, at the next start,
-- by id; afterwards a record without a link was slipped in.
CREATE TABLE chain_backfill (pending INTEGER PRIMARY KEY);
INSERT INTO chain_backfill (pending) SELECT 1 WHERE EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM events_recent);
