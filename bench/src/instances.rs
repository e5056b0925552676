//! Two servers on one PostgreSQL database against one (docs/operations.md,
//! "Several servers"): feed pages per second and single-record ingest
//! through both at once ÷ through one, on the same machine.

use std::path::Path;

use crate::{http_single_ingest, page_throughput, Args, DataSet, Server, Table, SINGLE_CLIENTS};

/// Runs `measure` against both servers at once; the sum of their rates.
fn through_both(servers: [&Server; 2], measure: impl Fn(&Server) -> anyhow::Result<f64> + Sync) -> anyhow::Result<f64> {
    std::thread::scope(|scope| {
        let runs: Vec<_> = servers.map(|server| scope.spawn(|| measure(server))).into();
        runs.into_iter().map(|run| run.join().expect("a measuring thread")).sum()
    })
}

#[allow(clippy::too_many_arguments)]
pub async fn measure(
    args: &Args,
    url: &str,
    server: &Server,
    key: &str,
    cookie: &str,
    data: DataSet,
    dir: &Path,
    table: &mut Table,
) -> anyhow::Result<()> {
    if args.db != "postgres" {
        return Ok(()); // SQLite is one server's file
    }
    let second = Server::start(&args.server, url).await?;
    let pages = |server: &Server, clients: usize| page_throughput(&format!("{}/", server.base), cookie, clients, 5);
    let one = pages(server, 16)?;
    let both = through_both([server, &second], |s| pages(s, 8))?;
    table.add(
        "pages_two_servers",
        "feed pages per second through two servers at once (16 connections in all)",
        format!("{both:.0} pages/s (one server: {one:.0})"),
        "",
        both,
    );
    table.add("ratio_pages_two_vs_one", "  two servers ÷ one", format!("{:.2}", both / one), "", both / one);

    let one = http_single_ingest(&server.base, key, data, dir)?;
    let both = through_both([server, &second], |s| http_single_ingest(&s.base, key, data, dir))?;
    table.add(
        "single_two_servers",
        &format!("single-record ingest through two servers at once ({SINGLE_CLIENTS} connections each)"),
        format!("{both:.0} rec/s (one server, {SINGLE_CLIENTS} connections: {one:.0})"),
        "",
        both,
    );
    table.add("ratio_single_two_vs_one", "  two servers ÷ one", format!("{:.2}", both / one), "", both / one);
    Ok(())
}
