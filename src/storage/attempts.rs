//! Statements over sign-in attempts (`auth::throttle`): counted in the
//! database, so that every server sees every server's failures.

use app::model::Micros;

use super::statement::Sql;

pub fn forget_before(q: &mut Sql<'_, '_>, before: Micros) {
    q.push("DELETE FROM sign_in_attempts WHERE at < ").bind(before.0);
}

pub fn count_since<'a>(q: &mut Sql<'_, 'a>, key: &'a str, since: Micros) {
    q.push("SELECT COUNT(*) FROM sign_in_attempts WHERE key = ").bind(key).push(" AND at >= ").bind(since.0);
}

pub fn insert<'a>(q: &mut Sql<'_, 'a>, key: &'a str, at: Micros) {
    q.push("INSERT INTO sign_in_attempts (key, at) VALUES (").bind(key).push(", ").bind(at.0).push(") RETURNING id");
}

pub fn take_back<'a>(q: &mut Sql<'_, 'a>, ids: &'a [i64]) {
    q.push("DELETE FROM sign_in_attempts WHERE id IN (").join(ids, ", ", |q, id| _ = q.bind(*id)).push(")");
}

pub fn forgive<'a>(q: &mut Sql<'_, 'a>, key: &'a str) {
    q.push("DELETE FROM sign_in_attempts WHERE key = ").bind(key);
}

pub fn remember_known<'a>(q: &mut Sql<'_, 'a>, pair: &'a str, at: Micros) {
    q.push("INSERT INTO sign_in_known (pair, at) VALUES (").bind(pair).push(", ").bind(at.0);
    q.push(") ON CONFLICT (pair) DO UPDATE SET at = excluded.at");
}

pub fn known_at<'a>(q: &mut Sql<'_, 'a>, pair: &'a str) {
    q.push("SELECT at FROM sign_in_known WHERE pair = ").bind(pair);
}
