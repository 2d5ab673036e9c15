//! The command line. Options that name where data lives are global, so
//! every subcommand that touches data takes `--database-url`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "portcullis",
    version,
    about = "An open-source, Stripe-compatible payment gateway"
)]
pub struct Cli {
    /// A TOML settings file; environment variables and flags override it.
    #[arg(long, global = true, env = "PORTCULLIS_CONFIG")]
    pub config: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://…`. Default: an SQLite file in the data directory.
    #[arg(long, global = true, env = "PORTCULLIS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Where the default SQLite database and local secrets live. Default: ./portcullis-data
    #[arg(long, global = true, env = "PORTCULLIS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `text` or `json`.
    #[arg(long, global = true, env = "PORTCULLIS_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// With no subcommand, `portcullis` serves: these are `serve`'s options.
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The serve options in force: `serve`'s own, or the top-level ones when
    /// no subcommand was given (`cargo run --release -- --listen …`).
    pub fn serve_args(&self) -> Option<&ServeArgs> {
        match &self.command {
            Some(Command::Serve(args)) => Some(args),
            None => Some(&self.serve),
            Some(_) => None,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(MigrateArgs),
    /// Settings file helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Create and list merchants.
    #[command(subcommand)]
    Merchant(MerchantCommand),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Create merchant dashboard users (a one-time activation link is printed).
    #[command(subcommand)]
    User(UserCommand),
    /// Write a self-signed certificate and key for local HTTPS.
    DevCert(DevCertArgs),
    /// Manage the card vault's keys.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Verify the ledger's hash chain and balances; sign checkpoints of it.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Measure risk scoring and rule evaluation (a benchmark, not a test).
    RiskBench(RiskBenchArgs),
    /// Measure the routing decision (a benchmark, not a test).
    RoutingBench(RoutingBenchArgs),
    /// Measure payments per second against a same-run baseline.
    Bench(BenchArgs),
    /// Kill the gateway under load again and again; then check nothing was lost.
    Soak(SoakArgs),
    /// Fill the database with payment history written straight to the
    /// store, for the growth benchmark (customers, payments, charges,
    /// events, risk counters, ledger).
    Seed(SeedArgs),
    /// Run the sandbox acquirer as its own process (HTTP/JSON, journaled).
    SandboxAcquirer(SandboxAcquirerArgs),
    /// Run a simulated acquirer host over ISO 8583 on TCP (journaled, with
    /// fault injection); `settlement` writes a day's settlement file.
    AcquirerSim(AcquirerSimArgs),
    /// Register, list and revoke ISO 8583 terminals (POS / IoT).
    #[command(subcommand)]
    Terminal(TerminalCommand),
    /// Run Alipay and WeChat Pay simulators on one HTTP port; prints the
    /// connector-account credentials to use with it.
    WalletSim(WalletSimArgs),
    /// Run a simulated card processor over signed JSON/HTTP (journaled,
    /// with fault injection and live settings).
    ProcessorSim(ProcessorSimArgs),
}

#[derive(Subcommand, Debug)]
pub enum TerminalCommand {
    /// Register a terminal of a merchant; its MAC key is shown once.
    Create {
        /// The merchant the terminal pays for (`acct_…`).
        #[arg(long)]
        merchant: String,
        /// Print exactly one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// List a merchant's terminals (never their keys).
    List {
        /// The merchant whose terminals to list (`acct_…`).
        #[arg(long)]
        merchant: String,
        /// Print one JSON object per terminal on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a terminal by its id: its messages are refused (03) from now on.
    Revoke {
        /// The terminal's id (8 characters), as `terminal list` shows it.
        terminal_id: String,
    },
}

#[derive(Args, Debug)]
pub struct WalletSimArgs {
    /// Address to listen on, e.g. 127.0.0.1:0 (the bound address is printed).
    #[arg(long)]
    pub listen: String,
    /// Divide the providers' notification retry schedules by this (tests).
    #[arg(long, default_value_t = 1)]
    pub notify_speedup: u32,
    /// How long a `late` notification waits before its first delivery.
    #[arg(long, default_value_t = 60_000)]
    pub late_ms: u64,
    /// Drop the answers to PERCENT % of provider API calls after they took
    /// effect: `drop:PERCENT`.
    #[arg(long = "fault", value_name = "KIND:PERCENT")]
    pub faults: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ProcessorSimArgs {
    /// Address to listen on, e.g. 127.0.0.1:0 (the bound address is printed).
    #[arg(long)]
    pub listen: String,
    /// The secret shared with the gateway's connector account; every
    /// request and answer is signed with it (HMAC-SHA256).
    #[arg(long)]
    pub secret: String,
    /// The journal file (created if missing, replayed if present); without
    /// it the simulator forgets everything when it stops.
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Delay before every answer.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Inject a fault into PERCENT % of money-moving requests: drop, late,
    /// close, garbage or 5xx (repeatable).
    #[arg(long = "fault", value_name = "KIND:PERCENT")]
    pub faults: Vec<String>,
    /// Percent (0-100) of cards the test-card table does not list (4242…)
    /// that are approved; the others decline generic_decline.
    #[arg(long, default_value_t = 100)]
    pub approval_rate: u8,
    #[command(flatten)]
    pub remembered: AttemptsMax,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AcquirerSimArgs {
    /// Address to listen on, e.g. 127.0.0.1:0 (the bound address is printed).
    #[arg(long)]
    pub listen: Option<String>,
    /// The journal file (created if missing, replayed if present).
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Delay before every answer.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Inject a fault into PERCENT % of financial requests: drop, late,
    /// close, garbage or duplicate (repeatable).
    #[arg(long = "fault", value_name = "KIND:PERCENT")]
    pub faults: Vec<String>,
    /// How late a `late` answer comes (longer than the caller's timeout).
    #[arg(long, default_value_t = 10_000)]
    pub late_ms: u64,
    /// `default` (binary bitmaps) or `default_ascii` (hex bitmaps).
    #[arg(long, default_value = "default")]
    pub profile: String,
    /// `binary2` (2-byte big-endian length) or `ascii4` (4 ASCII digits).
    #[arg(long, default_value = "binary2")]
    pub framing: String,
    #[command(subcommand)]
    pub command: Option<AcquirerSimCommand>,
}

#[derive(Subcommand, Debug)]
pub enum AcquirerSimCommand {
    /// Write one day's settlement file (CSV) from the journal.
    Settlement {
        #[arg(long)]
        journal: PathBuf,
        /// The day (UTC), YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args, Debug, Default)]
pub struct MigrateArgs {
    /// Create the PostgreSQL database named in --database-url if it does not
    /// exist yet (connecting to the server's `postgres` database to do so).
    #[arg(long)]
    pub create_database: bool,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print a settings file with every key, its default and what it does.
    Example,
}

#[derive(Subcommand, Debug)]
pub enum LedgerCommand {
    /// Recompute the hash chain and every balance; exit non-zero naming
    /// the first bad entry.
    Verify {
        /// Also check a checkpoint from `portcullis ledger checkpoint`: its
        /// signature, and that the chain still holds its entry unchanged.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Verify the ledger, then print its head (sequence, hash, time) signed
    /// with the ledger signing key, as JSON for a third party to hold.
    Checkpoint {
        /// Write the checkpoint to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct RiskBenchArgs {
    /// Rules in the set (at most 100).
    #[arg(long, default_value_t = 50)]
    pub rules: usize,
    /// Payments evaluated (1,000 to 10,000,000).
    #[arg(long, default_value_t = 200_000)]
    pub iterations: usize,
}

#[derive(Args, Debug)]
pub struct RoutingBenchArgs {
    /// Routing rules of the merchant (at most 100).
    #[arg(long, default_value_t = 50)]
    pub rules: usize,
    /// Card connector accounts (2 to 100).
    #[arg(long, default_value_t = 10)]
    pub accounts: usize,
    /// Decisions timed (1,000 to 10,000,000).
    #[arg(long, default_value_t = 200_000)]
    pub iterations: usize,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Concurrent keep-alive connections (one worker each).
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// How long each measured phase (baseline, payments) runs.
    #[arg(long, default_value_t = 10)]
    pub duration_s: u64,
    /// Payments sent before measuring.
    #[arg(long, default_value_t = 3)]
    pub warmup_s: u64,
    /// Target a running gateway (loopback, started with `bench_echo = true`)
    /// instead of starting one.
    #[arg(long)]
    pub url: Option<String>,
    /// A test secret key of the --url gateway's merchant.
    #[arg(long, env = "PORTCULLIS_BENCH_SECRET_KEY")]
    pub secret_key: Option<String>,
    /// With --url: the server's process id, to report its peak RSS.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Also measure open loop: payments due on a fixed schedule of this
    /// many per second, latency taken from each one's due time.
    #[arg(long)]
    pub rate: Option<u32>,
    /// Gateway processes to start on the one PostgreSQL database (the
    /// connections are spread over them); above 1, one instance is also
    /// measured alone in the same run, for the scale-out ratio.
    #[arg(long, default_value_t = 1)]
    pub instances: usize,
    /// Also measure the ISO 8583 side in the same run: the codec's messages
    /// per second on one core, and 0200 purchases per second from a
    /// registered terminal over --connections (at most 16) TCP
    /// connections to `serve --iso8583-listen`.
    #[arg(long)]
    pub terminals: bool,
    /// Also measure growth: after the payments phase, write this many
    /// more payments (and a customer per ten) into the bench's merchant,
    /// straight to the store (through the API with --url), then
    /// measure payments again (`payments_seeded`, `seeded_ratio`), the
    /// newest 100 intents (`list_p99_ms`) and a customer search by email
    /// (`search_p99_ms`), at the run's connections and then from one
    /// (`list_p99_ms_one_connection`, `search_p99_ms_one_connection`).
    #[arg(long)]
    pub seed_payments: Option<u64>,
    /// Also count what one payment writes: this many payments sent one at
    /// a time, the storage's row and page (SQLite) or row and WAL
    /// (PostgreSQL) counters read before and after (`write_cost`).
    #[arg(long)]
    pub write_cost_payments: Option<u64>,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SeedArgs {
    /// Card payments to write (95 % succeed, 5 % are declined).
    #[arg(long)]
    pub payments: u64,
    /// Customers the payments are spread over (default: one per ten payments).
    #[arg(long)]
    pub customers: Option<u64>,
    /// Days the history spans, ending now: payment `k` of `N` is dated
    /// `k/N` of the way through them, customers at their start. Captures
    /// older than the settlement delay (2 days by default) are left
    /// pending for the ledger worker to settle once a gateway runs.
    #[arg(long, default_value_t = 1)]
    pub days: u64,
    /// Customer batches (a thousand customers each) written at once.
    /// Payments are built one after another, in order, each against the
    /// risk counters of those before it; a committer applies them a
    /// thousand per transaction with multi-row statements.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Seed this existing merchant (`acct_…`) instead of a new one.
    #[arg(long)]
    pub merchant: Option<String>,
    /// After seeding, read back the risk counters of every subject the
    /// run counted and fail unless they equal what the seeder assessed
    /// the payments against (kept in memory, never read from the store).
    #[arg(long)]
    pub check_risk_counters: bool,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SoakArgs {
    /// How long payments are driven while the gateway is being killed.
    #[arg(long, default_value_t = 60)]
    pub duration_s: u64,
    /// How many times the gateway is killed with SIGKILL (spread over the run).
    #[arg(long, default_value_t = 20)]
    pub kills: u32,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// The acquirer the payments go to, as its own process: `sandbox`
    /// (`sandbox-acquirer`, HTTP/JSON) or `iso8583` (`acquirer-sim` over
    /// TCP, reconciled against its journal).
    #[arg(long, default_value = "sandbox")]
    pub acquirer: String,
    /// Pay with Alipay and WeChat Pay through `wallet-sim` instead: QR
    /// payments and their notifications while the gateway is killed.
    #[arg(long)]
    pub wallets: bool,
    /// Pay through routing instead: two `processor-sim`s as connector
    /// accounts under a 70/30 split, made to fail and recover during the
    /// run (so payments fail over), both journals reconciled against the
    /// gateway: no payment authorized on two processors.
    #[arg(long, conflicts_with = "wallets")]
    pub routing: bool,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SandboxAcquirerArgs {
    /// Loopback address to listen on, e.g. 127.0.0.1:0.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// The journal file (created if missing, replayed if present).
    #[arg(long)]
    pub journal: PathBuf,
    /// Simulated latency of each answer.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    #[command(flatten)]
    pub remembered: AttemptsMax,
}

/// `--attempts-max` of the simulators that list their attempts
/// (`sandbox-acquirer`, `processor-sim`).
#[derive(Args, Debug)]
pub struct AttemptsMax {
    /// How many attempts it remembers (and lists); beyond that the oldest
    /// are forgotten, a few hundred bytes each.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub attempts_max: u64,
}

impl AttemptsMax {
    /// The bound as the sandbox's `SandboxOptions::attempts_max` takes it.
    pub fn get(&self) -> anyhow::Result<usize> {
        usize::try_from(self.attempts_max)
            .map_err(|_| anyhow::anyhow!("--attempts-max is too large"))
    }
}

#[derive(Subcommand, Debug)]
pub enum VaultCommand {
    /// Add a new key-encrypting key, make it active once every instance has
    /// loaded it, and re-wrap every card's data key under it. Safe while
    /// servers run.
    RotateKey,
    /// Remove an old key-encrypting key that no card uses any more.
    RetireKey {
        /// The key-encrypting key's id (`kek_…`), as `vault status` shows it.
        kek_id: String,
    },
    /// Show the key ids and how many cards each wraps.
    Status,
    /// Write the keyring, encrypted under a passphrase (Argon2id and
    /// AES-256-GCM), to a file to keep away from this machine. The
    /// passphrase comes from --passphrase-file or PORTCULLIS_VAULT_BACKUP_PASSPHRASE.
    Backup {
        /// The backup file to write (mode 0600).
        #[arg(long)]
        out: PathBuf,
        /// A file holding the passphrase (at least 12 characters).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Write the keyring a backup holds to the keyring file (never over an
    /// existing one).
    Restore {
        /// The backup file written by `vault backup`.
        #[arg(long)]
        from: PathBuf,
        /// A file holding the passphrase.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
}

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// Address to listen on. Default: 127.0.0.1:8080
    #[arg(long, env = "PORTCULLIS_LISTEN")]
    pub listen: Option<String>,
    /// Serve `GET /metrics` (Prometheus text) on this address of its own,
    /// to any client that reaches it, instead of on the API listener to
    /// loopback clients only.
    #[arg(long, env = "PORTCULLIS_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Accept ISO 8583 messages (0100, 0200, 0400, 0800) from registered
    /// terminals on this address (`portcullis terminal create`).
    #[arg(long, env = "PORTCULLIS_ISO8583_LISTEN")]
    pub iso8583_listen: Option<String>,
    /// The terminal listener's message layout: `default` (binary bitmaps,
    /// pyiso8583's stock spec) or `default_ascii` (hex bitmaps).
    #[arg(long, env = "PORTCULLIS_ISO8583_LISTEN_PROFILE")]
    pub iso8583_listen_profile: Option<String>,
    /// The terminal listener's length prefix: `binary2` (2-byte big-endian)
    /// or `ascii4` (4 ASCII digits).
    #[arg(long, env = "PORTCULLIS_ISO8583_LISTEN_FRAMING")]
    pub iso8583_listen_framing: Option<String>,
    /// PEM certificate chain; with --tls-key, serve HTTPS (TLS 1.2+).
    #[arg(long, env = "PORTCULLIS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "PORTCULLIS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Let webhook URLs point at loopback, private and link-local
    /// addresses (local development only; also
    /// PORTCULLIS_WEBHOOKS_ALLOW_PRIVATE_TARGETS=true).
    #[arg(long)]
    pub webhooks_allow_private_targets: bool,
    /// Let connector accounts' endpoints be loopback, private and
    /// link-local addresses, e.g. `portcullis wallet-sim` (local
    /// development only; also PORTCULLIS_CONNECTORS_ALLOW_PRIVATE_ENDPOINTS=true).
    #[arg(long)]
    pub connectors_allow_private_endpoints: bool,
    /// Create the PostgreSQL database named in --database-url when the
    /// server says it does not exist (never done without this flag, so a
    /// mistyped URL cannot start an empty gateway).
    #[arg(long)]
    pub create_database: bool,
}

#[derive(Subcommand, Debug)]
pub enum MerchantCommand {
    /// Create a merchant with a test secret key and a test publishable key.
    Create {
        /// The merchant's display name.
        #[arg(long)]
        name: String,
        /// Print exactly one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// List merchants.
    List {
        /// Print one JSON object per merchant on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a dashboard user and print its one-time activation link.
    Create {
        /// The merchant the user works for (`acct_…`).
        #[arg(long)]
        merchant: String,
        /// The user's email address (unique across merchants).
        #[arg(long)]
        email: String,
        /// owner, developer, analyst or support (see the README's matrix).
        #[arg(long)]
        role: String,
        /// Print exactly one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Create an API key; the key is shown once.
    Create {
        /// The merchant the key belongs to (`acct_…`).
        #[arg(long)]
        merchant: String,
        /// secret, publishable or restricted
        #[arg(long)]
        kind: String,
        /// test or live
        #[arg(long, default_value = "test")]
        mode: String,
        /// For restricted keys: e.g. `customers:write,*:read` (default `*:read`).
        #[arg(long)]
        permissions: Option<String>,
        /// Print exactly one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// List a merchant's keys (never the keys themselves).
    List {
        /// The merchant whose keys to list (`acct_…`).
        #[arg(long)]
        merchant: String,
    },
    /// Revoke a key by its id (`key_…`); it stops working within seconds everywhere.
    Revoke {
        /// The key's id, as `key list` shows it.
        key_id: String,
    },
}

#[derive(Args, Debug)]
pub struct DevCertArgs {
    /// Directory for cert.pem and key.pem. Default: the data directory.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Extra host names or IP addresses besides localhost and 127.0.0.1.
    #[arg(long = "host")]
    pub hosts: Vec<String>,
}
