-- How many times a user's password was set since the account was made.
-- A session keeps the number it signed in under; one that differs is
-- over, so a new password signs out every session from before it
-- (app/src/api.rs `viewer_by_id`). A number, not a time: no clock of any
-- server or operator's machine decides which sessions are older.
ALTER TABLE users ADD COLUMN password_version BIGINT NOT NULL DEFAULT 0;
