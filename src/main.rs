#[tokio::main]
async fn main() -> std::process::ExitCode {
    trail::cli::run().await
}
