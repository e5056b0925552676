//! Investigations at scale (docs/performance.md, "Search"): one record found
//! among all by a term only it holds, against the LIKE scan Trail ran
//! before on the same database; a term in about 1,000 records; payload
//! field and address lookups; what the index costs in ingest and in disk.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context};
use serde_json::Value;
use sqlx::Connection;

use crate::{ingest_in_turns, percentiles, sqlite_file, Args, DataSet, Table, Turn, LOT_RECORDS};

/// Records per batch-ingest run with and without the index.
const INGEST_ROWS: usize = 100_000;
/// LIKE scans timed (each reads the whole table).
const LIKE_SAMPLES: usize = 10;

/// Record `s` of a spread of `rows` (a different one per sample).
fn spread(s: usize, rows: usize) -> usize {
    (s.wrapping_mul(7_919) + 13).wrapping_mul(104_729) % rows.max(1)
}

/// Times one GET per URL, each expected to find `expect(i)` records
/// (checked on the first page's length); (p50, p99) in ms.
async fn timed(
    client: &reqwest::Client,
    key: &str,
    urls: &[String],
    expect: impl Fn(usize) -> std::ops::RangeInclusive<usize>,
) -> anyhow::Result<(f64, f64)> {
    let mut times = Vec::with_capacity(urls.len());
    for (i, url) in urls.iter().enumerate() {
        let started = Instant::now();
        let response = client.get(url).bearer_auth(key).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        times.push(started.elapsed().as_secs_f64() * 1_000.0);
        if !status.is_success() {
            bail!("{url} answered {status}: {}", String::from_utf8_lossy(&body));
        }
        let page: Value = serde_json::from_slice(&body)?;
        let found = page["events"].as_array().map_or(0, Vec::len);
        if !expect(i).contains(&found) {
            bail!("{url} found {found} records, expected {:?}", expect(i));
        }
    }
    let (p50, _, p99) = percentiles(times);
    Ok((p50, p99))
}

/// Today's free text before the index, as the server ran it: LIKE over six
/// columns, newest first, a page of 50, on the database itself; (p50, p99) in ms.
async fn like_scan(db: &str, url: &str, terms: &[String]) -> anyhow::Result<(f64, f64)> {
    let columns = ["e.message", "e.key", "e.actor_id", "e.actor_email", "e.actor_name", "e.entity_id"];
    let times = if db == "postgres" {
        let like = columns.map(|c| format!("{c} ILIKE $1 ESCAPE '\\'")).join(" OR ");
        let sql = format!(
            "SELECT e.* FROM events e JOIN workspaces w ON w.id = e.workspace_id WHERE ({like}) \
             ORDER BY e.occurred_at DESC, e.id DESC LIMIT 50"
        );
        time_scans::<sqlx::Postgres>(&mut sqlx::PgConnection::connect(url).await?, &sql, terms).await?
    } else {
        let like = columns.map(|c| format!("{c} LIKE ?1 ESCAPE '\\'")).join(" OR ");
        let arm = |table: &str| {
            format!(
                "SELECT * FROM (SELECT e.* FROM {table} e JOIN workspaces w ON w.id = e.workspace_id WHERE ({like}) \
                 ORDER BY e.occurred_at DESC, e.id DESC LIMIT 50)"
            )
        };
        let sql =
            format!("{} UNION ALL {} ORDER BY occurred_at DESC, id DESC LIMIT 50", arm("events"), arm("events_recent"));
        time_scans::<sqlx::Sqlite>(&mut sqlx::SqliteConnection::connect(url).await?, &sql, terms).await?
    };
    let (p50, _, p99) = percentiles(times);
    Ok((p50, p99))
}

/// Times `sql` once per term (bound as `%term%`), each to find one record; ms.
async fn time_scans<DB>(conn: &mut DB::Connection, sql: &str, terms: &[String]) -> anyhow::Result<Vec<f64>>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut times = Vec::with_capacity(terms.len());
    for term in terms {
        let started = Instant::now();
        let rows = sqlx::query::<DB>(sql).bind(format!("%{term}%")).fetch_all(&mut *conn).await?;
        times.push(started.elapsed().as_secs_f64() * 1_000.0);
        if rows.len() != 1 {
            bail!("LIKE found {} records for {term}", rows.len());
        }
    }
    Ok(times)
}

/// Bytes of (the search index, the record tables, their other indexes).
async fn sizes(db: &str, url: &str) -> anyhow::Result<(f64, f64, f64)> {
    if db == "postgres" {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let size = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
        let index = size("SELECT SUM(pg_relation_size(relid))::bigint FROM pg_partition_tree('events_search')")
            .fetch_one(&mut conn)
            .await?;
        let table = size("SELECT SUM(pg_table_size(relid))::bigint FROM pg_partition_tree('events') WHERE isleaf")
            .fetch_one(&mut conn)
            .await?;
        let indexes = size("SELECT SUM(pg_indexes_size(relid))::bigint FROM pg_partition_tree('events') WHERE isleaf")
            .fetch_one(&mut conn)
            .await?;
        return Ok((index as f64, table as f64, (indexes - index) as f64));
    }
    let output = std::process::Command::new("sqlite3")
        .arg(sqlite_file(url))
        .arg("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
        .output()
        .context("sqlite3 (dbstat)")?;
    let (mut index, mut table, mut indexes) = (0.0, 0.0, 0.0);
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some((name, bytes)) = line.split_once('|') else { continue };
        let bytes: f64 = bytes.parse().unwrap_or(0.0);
        if name.starts_with("events_search") {
            index += bytes;
        } else if name == "events" || name == "events_recent" {
            table += bytes;
        } else if name.starts_with("events_") || name.starts_with("sqlite_autoindex_events") {
            indexes += bytes;
        }
    }
    Ok((index, table, indexes))
}

/// The search figures on the loaded database at `url` (served at `base`,
/// read with the spanning `key`).
pub async fn measure(
    args: &Args,
    dir: &Path,
    data: DataSet,
    base: &str,
    key: &str,
    url: &str,
    table: &mut Table,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let samples = args.samples;
    let events = |query: String| format!("{base}/api/v1/events?{query}");
    let rows = data.rows;

    let needles: Vec<usize> = (0..samples).map(|s| spread(s, rows)).collect();
    let urls: Vec<String> = needles.iter().map(|i| events(format!("q={}", crate::invoice(*i)))).collect();
    let (p50, p99) = timed(&client, key, &urls, |_| 1..=1).await?;
    let terms: Vec<String> = needles.iter().take(LIKE_SAMPLES).map(|i| crate::invoice(*i)).collect();
    let (like50, like99) = like_scan(&args.db, url, &terms).await?;
    table.add(
        "search_needle",
        "needle: a term in one record, all, p50 / p99",
        format!("{p50:.2} / {p99:.2} ms"),
        "p99 ≤ 20 ms",
        p99,
    );
    table.add(
        "search_needle_like",
        "  the LIKE scan before, same database (SQL only), p50 / p99",
        format!("{like50:.0} / {like99:.0} ms"),
        "",
        like99,
    );
    table.add("ratio_like_vs_search", "  LIKE ÷ index (p50)", format!("{:.0}", like50 / p50), "", like50 / p50);

    let lots = (rows / LOT_RECORDS).max(1);
    let urls: Vec<String> = (0..samples).map(|s| events(format!("q=L{}", spread(s, lots)))).collect();
    let (p50, p99) = timed(&client, key, &urls, |_| 1..=50).await?;
    table.add(
        "search_term_1000",
        &format!("a term in ~{LOT_RECORDS} records, first page, p50 / p99"),
        format!("{p50:.2} / {p99:.2} ms"),
        "p99 ≤ 20 ms",
        p99,
    );

    // Common terms: the first page comes from the newest records.
    for (id, name, query) in [
        ("search_common", "a term in ~0.5 % of records (\"user 17\"), first page", "q=%22user%2017%22"),
        ("search_agent", "a user agent in 20 % of records (ua:okhttp), first page", "q=ua:okhttp"),
        ("search_one_kind", "a word in one kind's records (stripe, 12.5 %), first page", "q=stripe"),
    ] {
        let urls = vec![events(query.to_owned()); samples];
        let (p50, p99) = timed(&client, key, &urls, |_| 50..=50).await?;
        table.add(id, &format!("{name}, p50 / p99"), format!("{p50:.2} / {p99:.2} ms"), "", p99);
    }

    let customers = rows.min(crate::CUSTOMERS);
    let urls: Vec<String> = (0..samples)
        .map(|s| events(format!("payload.customer.email={}", crate::customer_email(spread(s, customers)))))
        .collect();
    let (p50, p99) = timed(&client, key, &urls, |_| 1..=50).await?;
    table.add(
        "search_payload",
        "payload field (customer.email), p50 / p99",
        format!("{p50:.2} / {p99:.2} ms"),
        "p99 ≤ 10 ms",
        p99,
    );

    let addresses: Vec<String> = needles.iter().map(|i| crate::address(*i)).collect();
    let urls: Vec<String> = addresses.iter().map(|a| events(format!("ip={a}"))).collect();
    let (p50, p99) = timed(&client, key, &urls, |_| 1..=50).await?;
    table.add("search_ip", "an IP address, p50 / p99", format!("{p50:.2} / {p99:.2} ms"), "p99 ≤ 10 ms", p99);
    let urls: Vec<String> =
        addresses.iter().map(|a| events(format!("ip={}.0/24", a.rsplit_once('.').map_or("", |(n, _)| n)))).collect();
    let (p50, p99) = timed(&client, key, &urls, |_| 1..=50).await?;
    table.add("search_cidr", "a /24 of addresses, first page, p50 / p99", format!("{p50:.2} / {p99:.2} ms"), "", p99);

    let (index, records, other) = sizes(&args.db, url).await?;
    table.add(
        "search_index_mib",
        "search index size; ÷ record table; ÷ table and its other indexes",
        format!("{:.0} MiB; {:.2}; {:.2}", index / 1_048_576.0, index / records, index / (records + other)),
        "",
        index / records,
    );

    // Ingest with the index against without (`TRAIL_UNINDEXED_FOR_BENCHMARK`,
    // and on PostgreSQL without the GIN index either).
    let env = |setup| -> &'static [(&'static str, &'static str)] {
        if setup == 0 {
            &[]
        } else {
            &[("TRAIL_UNINDEXED_FOR_BENCHMARK", "1")]
        }
    };
    let postgres = args.db == "postgres";
    let drop_index = |turn: Turn| async move {
        if postgres && turn.setup == 1 {
            let mut conn = sqlx::PgConnection::connect(&turn.url).await?;
            sqlx::query("DROP INDEX events_search").execute(&mut conn).await?;
        }
        Ok(())
    };
    let ingest = DataSet { rows: INGEST_ROWS.min(rows), now: data.now };
    let paired = ingest_in_turns(args, dir, ingest, "search", env, drop_index).await?;
    table.add(
        "ratio_search_ingest",
        "batch ingest with the search index ÷ without",
        format!(
            "{:.2} ({:.0} ÷ {:.0} rec/s; pairs {})",
            paired.first / paired.second,
            paired.first,
            paired.second,
            paired.ratios
        ),
        "≥ 0.85",
        paired.first / paired.second,
    );
    Ok(())
}
