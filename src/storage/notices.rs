//! Statements over the admin pages' one-time notices (`app::context::Notices`).

use app::model::Micros;

use super::statement::Sql;

/// Drops notices that were never taken, and any earlier one of `session`:
/// a session has one notice at a time.
pub fn drop_stale<'a>(q: &mut Sql<'_, 'a>, session: &'a str, now: Micros) {
    q.push("DELETE FROM notices WHERE expires_at <= ").bind(now.0);
    q.push(" OR session = ").bind(session);
}

pub fn put<'a>(q: &mut Sql<'_, 'a>, id: &'a str, session: &'a str, sealed: &'a [u8], expires_at: Micros) {
    q.push("INSERT INTO notices (id, session, sealed, expires_at) VALUES (").bind(id);
    q.push(", ").bind(session).push(", ").bind(sealed).push(", ").bind(expires_at.0).push(")");
}

/// Removes the notice and returns it, if it is the session's and not expired:
/// of two servers taking it at once, one gets it.
pub fn take<'a>(q: &mut Sql<'_, 'a>, id: &'a str, session: &'a str, now: Micros) {
    q.push("DELETE FROM notices WHERE id = ").bind(id).push(" AND session = ").bind(session);
    q.push(" AND expires_at > ").bind(now.0).push(" RETURNING sealed");
}
