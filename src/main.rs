//! The `zoneshift` command: `run` the controller, print the `crd`.

use clap::{Parser, Subcommand};
use kube::CustomResourceExt;
use std::sync::Arc;
use std::time::Duration;
use zoneshift::api::HostedZoneMigration;
use zoneshift::clock::SystemClock;
use zoneshift::controller::{self, Context, DnsSettings};
use zoneshift::plan::Timing;
use zoneshift::route53::{RetryPolicy, Route53};
use zoneshift::telemetry::{self, LogFormat};

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
    Run(RunArgs),
    /// Print the CustomResourceDefinition as YAML.
    Crd,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Send Route 53 requests here instead of AWS (a local stand-in). Never settable by a
    /// resource: a resource must not be able to send the operator's credentials elsewhere.
    #[arg(long, env = "ZS_ROUTE53_ENDPOINT")]
    route53_endpoint: Option<String>,

    /// Route 53 requests per second for the whole process (the account's budget is shared).
    #[arg(long, env = "ZS_ROUTE53_RPS", default_value_t = 5)]
    route53_rps: u32,

    /// How often an in-sync zone is compared again, correcting drift made by hand.
    #[arg(long, env = "ZS_RESYNC_INTERVAL", default_value = "10m", value_parser = humantime::parse_duration)]
    resync_interval: Duration,

    /// How soon a pending Route 53 change is asked about again.
    #[arg(long, env = "ZS_CHANGE_POLL_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    change_poll_interval: Duration,

    /// How often the source (zone transfer or zone file) is imported and verified again, so
    /// changes made at the old provider during the migration reach the shadow zone.
    #[arg(long, env = "ZS_IMPORT_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    import_interval: Duration,

    /// Timeout of one DNS query or zone-transfer step to the old provider.
    #[arg(long, env = "ZS_DNS_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    dns_timeout: Duration,

    /// DNS queries in flight at once while verifying the shadow zone.
    #[arg(long, env = "ZS_VERIFY_CONCURRENCY", default_value_t = 32)]
    verify_concurrency: usize,

    /// Watch only this namespace (default: all).
    #[arg(long, env = "ZS_NAMESPACE")]
    namespace: Option<String>,

    /// Log format.
    #[arg(long, env = "ZS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    log_format: LogFormat,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // kube's TLS stack and the AWS SDK's each enable a rustls crypto provider; with two
    // present, rustls needs to be told which one to use.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => match serde_yaml::to_string(&HostedZoneMigration::crd()) {
            Ok(y) => {
                print!("{y}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("zoneshift: cannot render the CRD: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Run(args) => {
            telemetry::init(args.log_format);
            match run(args).await {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "zoneshift stopped");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}

async fn run(args: RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let client = kube::Client::try_default().await?;
    let route53 = Route53::from_env(
        args.route53_endpoint.as_deref(),
        args.route53_rps,
        RetryPolicy::default(),
    )
    .await;
    let instance = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "zoneshift".into());
    let timing = Timing {
        resync: args.resync_interval,
        pending_poll: args.change_poll_interval,
        import_interval: args.import_interval,
    };
    let mut ctx = Context::new(client, route53, Arc::new(SystemClock), timing, instance);
    ctx.dns = DnsSettings {
        timeout: args.dns_timeout,
        concurrency: args.verify_concurrency,
    };
    let ctx = Arc::new(ctx);
    tracing::info!(endpoint = ?args.route53_endpoint, rps = args.route53_rps, namespace = ?args.namespace, "zoneshift controller starting");
    controller::run(ctx, args.namespace).await;
    Ok(())
}
