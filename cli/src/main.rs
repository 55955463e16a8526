//! `outpost`: the user's command line for the fleet (a client of the
//! coordinator's HTTP API).

use clap::Parser;
use outpost_cli::{Args, run};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    run(Args::parse()).await
}
