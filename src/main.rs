//! The `zoneshift` command: parses the arguments and dispatches to `zoneshift::cli`.

use clap::{Parser, Subcommand};
use kube::CustomResourceExt;
use zoneshift::api::HostedZoneMigration;
use zoneshift::cli;

#[derive(Parser)]
#[command(
    name = "zoneshift",
    version,
    about = "Moves a live domain to Amazon Route 53 without losing a user"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller.
    Run(cli::run::Args),
    /// Print the CustomResourceDefinition as YAML.
    Crd,
    /// Print a HostedZoneMigration manifest with the live zone's records inline.
    Import(cli::import::Args),
    /// Show the changes a reconcile of a manifest would make; writes nothing. Exit 0: no
    /// changes, 2: changes, 1: error.
    Plan(cli::plan::Args),
    /// Print the condition types, reasons and phases as JSON (for health checks and docs).
    #[command(hide = true)]
    Vocabulary,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // aws-lc-rs is the only crypto provider the binary builds, but the test builds also
    // compile ring (a dev-dependency turns on kube's defaults): name it, so both agree.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match Cli::parse().command {
        Command::Crd => match yaml_serde::to_string(&HostedZoneMigration::crd()) {
            Ok(y) => {
                print!("{y}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("zoneshift: cannot render the CRD: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Vocabulary => {
            println!("{:#}", zoneshift::api::vocabulary::as_json());
            std::process::ExitCode::SUCCESS
        }
        Command::Import(args) => cli::import::main(args).await,
        Command::Plan(args) => cli::plan::main(args).await,
        Command::Run(args) => cli::run::main(args).await,
    }
}
