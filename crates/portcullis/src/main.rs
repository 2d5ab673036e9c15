//! `portcullis`: the payment gateway binary. `serve` runs the HTTP API; the
//! other subcommands administer the same database (merchants, keys,
//! migrations), make development certificates, run the sandbox acquirer as
//! a process of its own, and measure the gateway (`bench`, `soak`).

mod acquirer_sim;
mod acquirers;
mod admin;
mod banner;
mod bench;
mod cli;
mod connections;
mod dashboard_users;
mod dev_cert;
mod faults;
mod harness;
mod ledger_admin;
mod metrics;
mod processor_sim;
mod risk_bench;
mod routing_bench;
mod sandbox_server;
mod secrets;
mod seed;
mod serve;
mod settings;
mod soak;
mod stored_reversals;
mod telemetry;
mod terminal_admin;
mod terminal_listener;
mod vault_admin;
mod wallet_sim;

use clap::Parser;
use cli::{Cli, Command};

/// mimalloc's thread-local free lists: requests allocate and free many small
/// strings (ids, JSON bodies, SQL), which glibc's malloc served with locks
/// and consolidation (~12 % of the server's samples under load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Config(cli::ConfigCommand::Example)) = &cli.command {
        print!("{}", settings::CONFIG_EXAMPLE);
        return std::process::ExitCode::SUCCESS;
    }
    let settings = match settings::Settings::load(&cli) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("portcullis: {err:#}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    let database_url = cli.database_url.clone();
    let data_dir = cli.data_dir.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    let outcome = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve(Default::default())) {
            Command::Serve(_) => serve::run(&settings).await,
            Command::Migrate(_) => admin::migrate(&settings).await,
            Command::Config(_) => Ok(()),
            Command::Merchant(command) => admin::merchant(&settings, command).await,
            Command::Key(command) => admin::key(&settings, command).await,
            Command::User(command) => dashboard_users::run(&settings, command).await,
            Command::DevCert(args) => dev_cert::run(&settings, &args),
            Command::Vault(command) => vault_admin::run(&settings, command).await,
            Command::Ledger(command) => ledger_admin::run(&settings, command).await,
            Command::RiskBench(args) => risk_bench::run(&args),
            Command::RoutingBench(args) => routing_bench::run(&args),
            Command::Bench(args) => bench::run(database_url.as_deref(), &args).await,
            Command::Soak(args) => soak::run(database_url.as_deref(), &args).await,
            Command::Seed(args) => seed::run(&settings, &args).await,
            Command::SandboxAcquirer(args) => sandbox_server::run(&args).await,
            Command::AcquirerSim(args) => acquirer_sim::run(&args).await,
            Command::Terminal(command) => terminal_admin::run(&settings, command).await,
            Command::WalletSim(args) => wallet_sim::run(&args, data_dir).await,
            Command::ProcessorSim(args) => processor_sim::run(&args).await,
        }
    });
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("portcullis: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
