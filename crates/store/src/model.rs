//! The vocabulary callers use with the store: tables of documents, write
//! sets, list queries and idempotency claims.

use crate::StoreError;
use portcullis_domain::api_keys::{ApiKeyRecord, KeyKind, KeyMode, Permissions};
use portcullis_domain::ids::{ApiKeyId, MerchantId};
use portcullis_domain::merchants::Merchant;
use portcullis_domain::UnixSeconds;

/// A table of resource documents. Each has the standard columns `seq`
/// (insertion order), `id`, `merchant_id`, `created`, `version` and `body`
/// (the resource's JSON), plus the indexed columns named by [`Table::columns`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    Customers,
    PaymentMethods,
    PaymentIntents,
    Charges,
    Refunds,
    Disputes,
    Events,
    /// Authorization, capture and void attempts, for crash recovery.
    PaymentAttempts,
    /// Sealed card numbers; the body holds only ciphertext.
    VaultCards,
    /// Webhook endpoints. Inserting into [`Table::Events`] reads this table
    /// to fan the event out to deliveries (see [`crate::DeliveryClaim`]).
    WebhookEndpoints,
    /// Stripe's balance transactions (`txn_…`): the ledger as a merchant reads it.
    BalanceTransactions,
    /// Payouts (`po_…`).
    Payouts,
    /// Risk value lists (`rsl_…`), unique by alias per scope.
    RiskLists,
    /// Items of risk lists; removed ones are marked deleted.
    RiskListItems,
    /// A merchant's risk rules (`rule_…`).
    RiskRules,
    /// The signals each payment was assessed with, for dry runs.
    RiskEvaluations,
    /// The review queue (`prv_…`).
    Reviews,
    /// Connector accounts (`ca_…`); `kek_id` names the KEK that wraps their
    /// sealed credentials, like [`Table::VaultCards`].
    ConnectorAccounts,
    /// ISO 8583 terminals; the id is the terminal id (DE 41), unique across
    /// merchants; `kek_id` names the KEK that wraps the sealed MAC key.
    Terminals,
    /// The 0100/0200 messages terminals sent and the answers they got, by a
    /// digest of (terminal, STAN, DE 7): what a repeat answers again.
    TerminalTransactions,
    /// A merchant's routing rules (`rr_…`), oldest first.
    RoutingRules,
    /// Checkout Sessions (`cs_…`): hosted payment pages' orders.
    CheckoutSessions,
    /// Customer accounts (`cacct_…`), unique by `email_key` per scope.
    CustomerAccounts,
    /// Signed-in sessions of customer accounts, found by `token_hash`.
    AccountSessions,
    /// Single-use emailed tokens (activation, reset, …), by `token_hash`.
    AccountTokens,
    /// The credential audit trail; append-only.
    AccountEvents,
    /// A customer's stored-value balance transactions (`cbtxn_…`).
    CustomerBalanceTransactions,
    /// Stored-value limits per merchant or customer and currency (`cbl_…`).
    CustomerBalanceLimits,
    /// Merchant dashboard users (`dusr_…`), unique by `email_key` across merchants.
    DashboardUsers,
    /// Signed-in dashboard sessions, found by `token_hash`.
    DashboardSessions,
    /// What dashboard users did; append-only.
    DashboardEvents,
    /// Customer accounts' passkeys (`cpk_…`), by `credential_id` or `account`.
    AccountPasskeys,
    /// WebAuthn ceremonies in progress (`pkch_…`), each spent once.
    AccountPasskeyChallenges,
}

/// How a search attribute maps to SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Integer,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Customers => "customers",
            Table::PaymentMethods => "payment_methods",
            Table::PaymentIntents => "payment_intents",
            Table::Charges => "charges",
            Table::Refunds => "refunds",
            Table::Disputes => "disputes",
            Table::Events => "events",
            Table::PaymentAttempts => "payment_attempts",
            Table::VaultCards => "vault_cards",
            Table::WebhookEndpoints => "webhook_endpoints",
            Table::BalanceTransactions => "balance_transactions",
            Table::Payouts => "payouts",
            Table::RiskLists => "risk_lists",
            Table::RiskListItems => "risk_list_items",
            Table::RiskRules => "risk_rules",
            Table::RiskEvaluations => "risk_evaluations",
            Table::Reviews => "reviews",
            Table::ConnectorAccounts => "connector_accounts",
            Table::Terminals => "terminals",
            Table::TerminalTransactions => "terminal_transactions",
            Table::RoutingRules => "routing_rules",
            Table::CheckoutSessions => "checkout_sessions",
            Table::CustomerAccounts => "customer_accounts",
            Table::AccountSessions => "account_sessions",
            Table::AccountTokens => "account_tokens",
            Table::AccountEvents => "account_events",
            Table::CustomerBalanceTransactions => "customer_balance_transactions",
            Table::CustomerBalanceLimits => "customer_balance_limits",
            Table::DashboardUsers => "dashboard_users",
            Table::DashboardSessions => "dashboard_sessions",
            Table::DashboardEvents => "dashboard_events",
            Table::AccountPasskeys => "account_passkeys",
            Table::AccountPasskeyChallenges => "account_passkey_challenges",
        }
    }

    /// The indexed columns beyond the standard ones, settable by writes and
    /// usable in list filters and searches.
    pub fn columns(self) -> &'static [(&'static str, ColumnKind)] {
        match self {
            Table::Customers => &[
                ("email", ColumnKind::Text),
                ("name", ColumnKind::Text),
                ("deleted", ColumnKind::Integer),
            ],
            Table::PaymentMethods => &[
                ("customer", ColumnKind::Text),
                ("method_type", ColumnKind::Text),
            ],
            Table::PaymentIntents => &[
                ("customer", ColumnKind::Text),
                ("status", ColumnKind::Text),
                ("wallet_expires_at", ColumnKind::Integer),
                ("step_up_expires_at", ColumnKind::Integer),
                ("amount", ColumnKind::Integer),
                ("method_types", ColumnKind::Text),
                ("search_text", ColumnKind::Text),
            ],
            Table::Charges => &[
                ("payment_intent", ColumnKind::Text),
                ("customer", ColumnKind::Text),
            ],
            Table::Refunds => &[
                ("payment_intent", ColumnKind::Text),
                ("charge", ColumnKind::Text),
                ("status", ColumnKind::Text),
                ("settled", ColumnKind::Integer),
            ],
            Table::Disputes => &[("charge", ColumnKind::Text)],
            Table::Events => &[("event_type", ColumnKind::Text)],
            Table::PaymentAttempts => &[
                ("payment_intent", ColumnKind::Text),
                ("state", ColumnKind::Text),
            ],
            Table::VaultCards => &[("kek_id", ColumnKind::Text)],
            Table::WebhookEndpoints => &[
                ("status", ColumnKind::Text),
                ("enabled_events", ColumnKind::Text),
                ("deleted", ColumnKind::Integer),
                ("failing_since_ms", ColumnKind::Integer),
                ("kek_id", ColumnKind::Text),
            ],
            Table::BalanceTransactions => &[
                ("source", ColumnKind::Text),
                ("txn_type", ColumnKind::Text),
                ("currency", ColumnKind::Text),
                ("status", ColumnKind::Text),
                ("available_on", ColumnKind::Integer),
            ],
            Table::Payouts => &[
                ("currency", ColumnKind::Text),
                ("status", ColumnKind::Text),
                ("arrival_date", ColumnKind::Integer),
            ],
            Table::RiskLists => &[("alias", ColumnKind::Text)],
            Table::RiskListItems => &[("list", ColumnKind::Text), ("deleted", ColumnKind::Integer)],
            Table::RiskRules => &[("deleted", ColumnKind::Integer)],
            Table::RiskEvaluations => &[("payment_intent", ColumnKind::Text)],
            Table::Reviews => &[
                ("is_open", ColumnKind::Integer),
                ("payment_intent", ColumnKind::Text),
                ("charge", ColumnKind::Text),
            ],
            Table::ConnectorAccounts => &[
                ("connector_type", ColumnKind::Text),
                ("kek_id", ColumnKind::Text),
                ("deleted", ColumnKind::Integer),
            ],
            Table::Terminals => &[
                ("card_acceptor_id", ColumnKind::Text),
                ("kek_id", ColumnKind::Text),
                ("revoked", ColumnKind::Integer),
            ],
            Table::TerminalTransactions => &[
                ("terminal_id", ColumnKind::Text),
                ("original_key", ColumnKind::Text),
                ("payment_intent", ColumnKind::Text),
            ],
            Table::RoutingRules => &[("deleted", ColumnKind::Integer)],
            Table::CheckoutSessions => &[
                ("status", ColumnKind::Text),
                ("expires_at", ColumnKind::Integer),
                ("payment_intent", ColumnKind::Text),
                ("customer", ColumnKind::Text),
            ],
            Table::CustomerAccounts => &[
                ("email_key", ColumnKind::Text),
                ("customer", ColumnKind::Text),
                ("status", ColumnKind::Text),
            ],
            Table::AccountSessions => &[
                ("token_hash", ColumnKind::Text),
                ("account", ColumnKind::Text),
                ("revoked", ColumnKind::Integer),
            ],
            Table::AccountTokens => &[
                ("token_hash", ColumnKind::Text),
                ("account", ColumnKind::Text),
                ("purpose", ColumnKind::Text),
            ],
            Table::AccountEvents => &[
                ("customer", ColumnKind::Text),
                ("email_digest", ColumnKind::Text),
                ("action", ColumnKind::Text),
                ("outcome", ColumnKind::Text),
                ("ip", ColumnKind::Text),
            ],
            Table::CustomerBalanceTransactions => &[
                ("customer", ColumnKind::Text),
                ("currency", ColumnKind::Text),
            ],
            Table::CustomerBalanceLimits => {
                &[("holder", ColumnKind::Text), ("currency", ColumnKind::Text)]
            }
            Table::DashboardUsers => &[
                ("email_key", ColumnKind::Text),
                ("activation_hash", ColumnKind::Text),
                ("status", ColumnKind::Text),
                ("kek_id", ColumnKind::Text),
            ],
            Table::DashboardSessions => &[
                ("token_hash", ColumnKind::Text),
                ("dashboard_user", ColumnKind::Text),
                ("revoked", ColumnKind::Integer),
            ],
            Table::DashboardEvents => &[
                ("dashboard_user", ColumnKind::Text),
                ("action", ColumnKind::Text),
                ("object", ColumnKind::Text),
            ],
            Table::AccountPasskeys => &[
                ("account", ColumnKind::Text),
                ("credential_id", ColumnKind::Text),
                ("deleted", ColumnKind::Integer),
            ],
            Table::AccountPasskeyChallenges => &[("purpose", ColumnKind::Text)],
        }
    }

    /// The column whose true value hides a row from lists and searches.
    pub fn deleted_column(self) -> Option<&'static str> {
        match self {
            Table::Customers
            | Table::WebhookEndpoints
            | Table::RiskListItems
            | Table::ConnectorAccounts
            | Table::RoutingRules
            | Table::AccountPasskeys => Some("deleted"),
            _ => None,
        }
    }

    /// The SQL kind of a column a caller may filter or search on.
    pub fn column_kind(self, column: &str) -> Option<ColumnKind> {
        match column {
            "created" => return Some(ColumnKind::Integer),
            "id" => return Some(ColumnKind::Text),
            _ => {}
        }
        self.columns()
            .iter()
            .find(|(name, _)| *name == column)
            .map(|(_, kind)| *kind)
    }
}

/// Whose documents an operation may see: one merchant's, in one mode.
/// Test-mode keys never see live objects and the reverse.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    pub merchant_id: MerchantId,
    pub livemode: bool,
}

#[cfg(test)]
impl Scope {
    /// The test-mode scope of merchant `acct_x1`, for unit tests.
    pub(crate) fn of_test_merchant() -> Self {
        Self {
            merchant_id: MerchantId::parse("acct_x1").expect("a valid merchant id"),
            livemode: false,
        }
    }
}

/// A value bound into SQL.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Text(String),
    Bool(bool),
    /// A PostgreSQL `BIGINT[]`, for the statements only PostgreSQL runs
    /// (a function's rows passed as arrays); SQLite refuses to bind it.
    Integers(Vec<i64>),
    /// A PostgreSQL `TEXT[]`, as [`SqlValue::Integers`].
    Texts(Vec<String>),
}

impl From<Option<&str>> for SqlValue {
    fn from(value: Option<&str>) -> Self {
        value.map_or(SqlValue::Null, |text| SqlValue::Text(text.to_owned()))
    }
}

/// A stored document as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Doc {
    pub id: String,
    pub seq: i64,
    pub created: UnixSeconds,
    /// Incremented by every update; updates name the version they read.
    pub version: i64,
    /// The resource's JSON, as the caller wrote it.
    pub body: String,
}

/// One change inside a [`WriteSet`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// A new document; fails with `Duplicate` if the id exists.
    Insert {
        table: Table,
        scope: Scope,
        id: String,
        created: UnixSeconds,
        columns: Vec<(&'static str, SqlValue)>,
        body: String,
    },
    /// Replaces a document's body and columns if it is still at
    /// `expected_version`; fails with `Conflict` otherwise.
    Update {
        table: Table,
        scope: Scope,
        id: String,
        expected_version: i64,
        columns: Vec<(&'static str, SqlValue)>,
        body: String,
    },
    /// Appends a balanced ledger transaction to the hash chain. The store
    /// links it after the chain head at apply time (sequence, previous
    /// hash, hash), updates the balances, and refuses the whole write set
    /// with `InsufficientBalance` if a balance the policy floors at zero
    /// would go below it. Appending a key that exists is a no-op when it
    /// records the same movement, and `Duplicate` otherwise. Applied after
    /// every other operation of its write set, whatever its position.
    LedgerAppend {
        transaction: portcullis_ledger::LedgerTransaction,
    },
    /// Adds to a risk counter, records a card seen, or moves a card's
    /// last location: the incremental state of velocity signals.
    Risk(RiskWrite),
    /// Makes an event's deliveries (or the one to `one`'s endpoint, created
    /// if missing) due at `now_ms` again, as `Store::redeliver` does, but
    /// inside this write set, so a resend and the record of who asked for
    /// it commit together. A delivery an attempt holds is left alone.
    Redeliver {
        scope: Scope,
        event_id: String,
        one: Option<crate::webhooks::Redelivery>,
        now_ms: i64,
    },
    /// Stores the response of a request that claimed an idempotency key.
    CompleteIdempotency {
        merchant_id: MerchantId,
        key: String,
        status_code: u16,
        response_body: String,
    },
}

/// Operations applied atomically: all of them or none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteSet {
    pub ops: Vec<WriteOp>,
}

impl WriteSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, op: WriteOp) -> &mut Self {
        self.ops.push(op);
        self
    }

    /// The transactions of its `LedgerAppend`s, in order.
    pub(crate) fn ledger_appends(
        &self,
    ) -> impl Iterator<Item = &portcullis_ledger::LedgerTransaction> + Clone {
        self.ops.iter().filter_map(|op| match op {
            WriteOp::LedgerAppend { transaction } => Some(transaction),
            _ => None,
        })
    }
}

/// Bounds on `created`, each optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreatedRange {
    pub gt: Option<UnixSeconds>,
    pub gte: Option<UnixSeconds>,
    pub lt: Option<UnixSeconds>,
    pub lte: Option<UnixSeconds>,
}

/// Where a page starts, by the id of an object on a neighbouring page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageCursor {
    /// The first (newest) page.
    Newest,
    /// Objects older than this one.
    StartingAfter(String),
    /// Objects newer than this one.
    EndingBefore(String),
}

/// Most values one membership filter of a [`ListQuery`] may hold.
pub const ONE_OF_VALUES_MAX: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub scope: Scope,
    /// Equality filters on the table's columns.
    pub filters: Vec<(&'static str, SqlValue)>,
    /// Membership filters: the column equals one of the values (at most
    /// [`ONE_OF_VALUES_MAX`] of them; an empty list matches nothing).
    pub one_of: Vec<(&'static str, Vec<SqlValue>)>,
    pub created: CreatedRange,
    pub cursor: PageCursor,
    /// 1 to 100.
    pub limit: usize,
}

/// A comparison in a maintenance [`ScanQuery`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanOp {
    Equal,
    NotEqual,
    /// The column is at most the value (`<=`), e.g. a due time.
    AtMost,
    /// The column is above the value (`>`), e.g. a time not yet come.
    After,
    /// The column is NULL (the value is not used), e.g. a secret not yet sealed.
    IsNull,
}

/// A query across every scope, for background work (crash recovery, key
/// rotation, refund polling): oldest first, bounded by `limit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanQuery {
    pub filters: Vec<(&'static str, ScanOp, SqlValue)>,
    pub created_before: Option<UnixSeconds>,
    pub limit: usize,
}

/// A document found by a scan, with the scope it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopedDoc {
    pub scope: Scope,
    pub doc: Doc,
}

/// One page of documents, newest first, and whether more lie beyond it in
/// the direction of travel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage {
    pub docs: Vec<Doc>,
    pub has_more: bool,
}

/// What claiming an idempotency key found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is now ours: execute the request.
    Claimed,
    /// Another request holds the key and is still executing.
    InFlight { fingerprint: String },
    /// A request with this key finished; replay its response.
    Completed {
        fingerprint: String,
        status_code: u16,
        response_body: String,
    },
}

/// Turns `limit + 1` fetched rows into a page: the extra row only says that
/// more exist. Rows fetched oldest-first (walking towards newer objects) are
/// put back newest-first.
pub(crate) fn page_of(mut docs: Vec<Doc>, limit: usize, fetched_oldest_first: bool) -> ListPage {
    let has_more = docs.len() > limit;
    docs.truncate(limit);
    if fetched_oldest_first {
        docs.reverse();
    }
    ListPage { docs, has_more }
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {value:?}"))
}

/// A merchant from its stored columns.
pub(crate) fn merchant_of(id: &str, name: String, created: i64) -> Result<Merchant, StoreError> {
    Ok(Merchant {
        id: MerchantId::parse(id).ok_or_else(|| corrupt("merchant id", id))?,
        name,
        created,
    })
}

/// A key record from its stored columns: id, merchant_id, kind, mode,
/// key_hash, display_prefix, then created, revoked_at and permissions.
pub(crate) fn key_of(
    texts: [String; 6],
    created: i64,
    revoked_at: Option<i64>,
    permissions: Option<String>,
) -> Result<ApiKeyRecord, StoreError> {
    let permissions = permissions
        .map(|text| Permissions::parse(&text).map_err(|_| corrupt("permissions", &text)))
        .transpose()?;
    let [id, merchant_id, kind, mode, key_hash, display_prefix] = texts;
    Ok(ApiKeyRecord {
        id: ApiKeyId::parse(&id).ok_or_else(|| corrupt("key id", &id))?,
        merchant_id: MerchantId::parse(&merchant_id)
            .ok_or_else(|| corrupt("merchant id", &merchant_id))?,
        kind: KeyKind::parse(&kind).ok_or_else(|| corrupt("key kind", &kind))?,
        mode: KeyMode::parse(&mode).ok_or_else(|| corrupt("key mode", &mode))?,
        key_hash,
        display_prefix,
        permissions,
        created,
        revoked_at,
    })
}

/// Whose velocity a risk counter counts: a card (by fingerprint), a
/// customer, an email or an IP address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RiskSubjectKind {
    Card,
    Customer,
    Email,
    Ip,
}

impl RiskSubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskSubjectKind::Card => "card",
            RiskSubjectKind::Customer => "customer",
            RiskSubjectKind::Email => "email",
            RiskSubjectKind::Ip => "ip",
        }
    }
}

/// What a risk counter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RiskMetric {
    /// Attempts (every assessed payment).
    Total,
    /// Payments the acquirer authorized.
    Authorized,
    /// Payments declined by the acquirer or blocked by a rule.
    Declined,
}

impl RiskMetric {
    pub const ALL: [RiskMetric; 3] = [
        RiskMetric::Total,
        RiskMetric::Authorized,
        RiskMetric::Declined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RiskMetric::Total => "total",
            RiskMetric::Authorized => "authorized",
            RiskMetric::Declined => "declined",
        }
    }
}

/// The bucket that holds a subject's lifetime history (authorized
/// payments and their USD amounts), beside the hourly buckets.
pub const RISK_LIFETIME_BUCKET: i64 = 0;

/// An incremental change to risk state, applied inside a write set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RiskWrite {
    /// Adds `count` and `amount_usd_cents` to one counter bucket.
    Count {
        scope: Scope,
        kind: RiskSubjectKind,
        subject: String,
        metric: RiskMetric,
        /// Unix hour, or [`RISK_LIFETIME_BUCKET`].
        bucket_hour: i64,
        count: i64,
        amount_usd_cents: i64,
    },
    /// Records that `card` was tried by the subject in this hour.
    CardSeen {
        scope: Scope,
        kind: RiskSubjectKind,
        subject: String,
        bucket_hour: i64,
        card: String,
    },
    /// Adds one routed authorization's outcome to the success-rate window
    /// of `connector_account` for `segment` (see [`RoutingOutcomeQuery`]):
    /// slot `slot` holds the bucket begun at `bucket_start`; an older bucket
    /// in the slot is reset first.
    RoutingOutcome {
        scope: Scope,
        segment: String,
        connector_account: String,
        slot: i64,
        bucket_start: UnixSeconds,
        authorized: bool,
    },
    /// Moves a card's last known location forward (never backward).
    Sighting {
        scope: Scope,
        card: String,
        latitude_micro: i64,
        longitude_micro: i64,
        seen_at: UnixSeconds,
    },
}

/// Reads the success-rate windows of `segments` (every account's), counting
/// buckets begun at `from` or later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingOutcomeQuery {
    pub scope: Scope,
    pub segments: Vec<String>,
    pub from: UnixSeconds,
}

/// One account's outcomes in one segment's window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingOutcomeCounts {
    pub segment: String,
    pub connector_account: String,
    pub authorized: i64,
    pub declined: i64,
}

/// Reads one subject's counters: hourly buckets from `hour_from`, daily
/// from `day_from`, and (as `cards` asks) its distinct cards and whether
/// `card` is among them already.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiskCounterQuery {
    pub scope: Scope,
    pub kind: RiskSubjectKind,
    pub subject: String,
    pub hour_from: i64,
    pub day_from: i64,
    pub card: Option<String>,
    pub cards: RiskCardsRead,
}

/// Whether a [`RiskCounterQuery`] reads the subject's distinct cards
/// ([`RiskCounters::cards`], `card_seen_hourly`, `card_seen_daily`).
///
/// A payment's checks look at them only for a subject other than the card
/// itself, and only when the payment has a card; for the rest the read of
/// `risk_card_members` (two distinct counts, each an ephemeral table on
/// SQLite) would be answered for nobody.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RiskCardsRead {
    /// Read, as [`RiskCounters`] documents.
    Counted,
    /// Not read: the counts answer zero and `card_seen_*` false.
    Skipped,
}

/// Counts over the hourly and daily windows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RiskWindowCounts {
    pub hourly: i64,
    pub daily: i64,
}

/// One subject's counters as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RiskCounters {
    pub total: RiskWindowCounts,
    pub authorized: RiskWindowCounts,
    pub declined: RiskWindowCounts,
    /// Distinct cards tried (not kept for card subjects).
    pub cards: RiskWindowCounts,
    /// Whether the query's card is among them already, per window.
    pub card_seen_hourly: bool,
    pub card_seen_daily: bool,
    /// Lifetime authorized payments and their sum in US cents.
    pub history_count: i64,
    pub history_usd_cents: i64,
}

/// What the risk checks read of the past for one payment, in one read:
/// each subject's counters (in the order of the queries) and where the
/// card was last seen paying.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RiskHistory {
    pub counters: Vec<RiskCounters>,
    pub sighting: Option<RiskSighting>,
}

/// A card's last known location.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskSighting {
    pub latitude_micro: i64,
    pub longitude_micro: i64,
    pub seen_at: UnixSeconds,
}
