-- When a user's password was last set (microseconds since 1970; 0: at
-- creation). A session signed in before it ends: a new password signs
-- out every other session (app/src/api.rs `viewer_by_id`).
ALTER TABLE users ADD COLUMN password_changed_at BIGINT NOT NULL DEFAULT 0;
