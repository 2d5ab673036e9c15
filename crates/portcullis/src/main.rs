//! `portcullis`: the payment gateway binary. `serve` runs the HTTP API; the
//! other subcommands administer the same database (merchants, keys,
//! migrations) and make development certificates.

mod admin;
mod cli;
mod dev_cert;
mod ledger_admin;
mod risk_bench;
mod secrets;
mod serve;
mod settings;
mod telemetry;
mod vault_admin;

use clap::Parser;
use cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match settings::Settings::load(&cli) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("portcullis: {err:#}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    let outcome = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve(Default::default())) {
            Command::Serve(_) => serve::run(&settings).await,
            Command::Migrate => admin::migrate(&settings).await,
            Command::Merchant(command) => admin::merchant(&settings, command).await,
            Command::Key(command) => admin::key(&settings, command).await,
            Command::DevCert(args) => dev_cert::run(&settings, &args),
            Command::Vault(command) => vault_admin::run(&settings, command).await,
            Command::Ledger(command) => ledger_admin::run(&settings, command).await,
            Command::RiskBench(args) => risk_bench::run(&args),
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
