//! The simulator's trades: one per (provider, `out_trade_no`), with its
//! state, its refunds and the payment-code behaviour it was created with.
//! Every change is written through to `--data-dir` (a JSON file replaced
//! atomically) before the answer leaves, so a restarted simulator answers
//! queries as the first one would have.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const TRADES_FILE: &str = "trades.json";
/// Most trades the simulator keeps (oldest dropped beyond it).
pub const TRADES_MAX: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Alipay,
    WechatPay,
}

/// Where a trade stands, in terms both providers map onto.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeState {
    /// Created, not paid (Alipay WAIT_BUYER_PAY, WeChat NOTPAY).
    WaitBuyerPay,
    /// A payment code is being confirmed by the buyer (WeChat USERPAYING,
    /// Alipay WAIT_BUYER_PAY after a 10003 answer).
    UserPaying,
    /// Paid (Alipay TRADE_SUCCESS, WeChat SUCCESS).
    Success,
    /// Closed unpaid, or fully refunded (Alipay TRADE_CLOSED, WeChat CLOSED).
    Closed,
    /// The buyer declined (WeChat PAYERROR; Alipay closes the trade).
    Declined,
    /// Cancelled/reversed after a payment code (WeChat REVOKED).
    Reversed,
}

/// What a payment code does when presented (the code's last digit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeBehaviour {
    /// Pays at once.
    Pays,
    /// Declined (insufficient balance).
    Declines,
    /// The buyer confirms on the phone: waiting, then paid at the second query.
    PaysAfterWaiting,
    /// Waiting for the buyer forever.
    WaitsForever,
}

impl CodeBehaviour {
    /// By the code's last digit: 1 declines, 2 waits then pays, 3 waits
    /// forever, anything else pays at once.
    pub fn of_code(auth_code: &str) -> Self {
        match auth_code.as_bytes().last() {
            Some(b'1') => CodeBehaviour::Declines,
            Some(b'2') => CodeBehaviour::PaysAfterWaiting,
            Some(b'3') => CodeBehaviour::WaitsForever,
            _ => CodeBehaviour::Pays,
        }
    }
}

/// Queries that turn a `PaysAfterWaiting` code into a payment.
pub const QUERIES_BEFORE_PAYMENT: u32 = 2;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RefundRecord {
    pub out_refund_no: String,
    pub refund_id: String,
    pub amount_fen: i64,
    pub created_s: i64,
    /// A refund held PROCESSING by a fault, until it resolves; `None` once
    /// it has (or when it never was).
    #[serde(default)]
    pub processing: Option<ProcessingRefund>,
    /// WeChat Pay `status` once resolved: SUCCESS, ABNORMAL or CLOSED.
    #[serde(default = "refund_success")]
    pub status: String,
    /// Where the refund's notification goes (WeChat Pay's `notify_url`).
    #[serde(default)]
    pub notify_url: Option<String>,
}

fn refund_success() -> String {
    REFUND_SUCCESS.to_owned()
}

pub const REFUND_SUCCESS: &str = "SUCCESS";

/// When a PROCESSING refund resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolveOn {
    /// On the next refund query.
    Query,
    /// Only when `POST /sim/refunds/{out_refund_no}/resolve` says so (the
    /// notification then tells the merchant).
    Resolve,
}

/// How a refund held PROCESSING ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessingRefund {
    /// SUCCESS, ABNORMAL or CLOSED.
    pub then: String,
    pub on: ResolveOn,
}

impl RefundRecord {
    /// A refund that succeeded at once.
    pub fn succeeded(
        out_refund_no: String,
        refund_id: String,
        amount_fen: i64,
        now_s: i64,
    ) -> Self {
        RefundRecord {
            out_refund_no,
            refund_id,
            amount_fen,
            created_s: now_s,
            processing: None,
            status: refund_success(),
            notify_url: None,
        }
    }

    /// The provider's status now: PROCESSING until resolved.
    pub fn status(&self) -> &str {
        if self.processing.is_some() {
            "PROCESSING"
        } else {
            &self.status
        }
    }

    /// Whether the refund has paid the buyer.
    pub fn succeeded_now(&self) -> bool {
        self.status() == REFUND_SUCCESS
    }

    /// Ends the PROCESSING state as the fault said.
    pub fn resolve(&mut self) {
        if let Some(processing) = self.processing.take() {
            self.status = processing.then;
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Trade {
    pub provider: Provider,
    pub out_trade_no: String,
    /// The provider's id: Alipay `trade_no`, WeChat `transaction_id`.
    pub trade_no: String,
    /// What the customer page is reached by (QR data, H5 URL, prepay id).
    pub token: String,
    pub amount_fen: i64,
    pub subject: String,
    pub notify_url: Option<String>,
    /// Alipay page/wap pay: where the buyer's browser returns after paying.
    pub return_url: Option<String>,
    /// Alipay precreate: a trade exists for queries only once the buyer
    /// scanned its code (as Alipay documents: TRADE_NOT_EXIST before).
    pub scanned: bool,
    /// Alipay method or WeChat trade type (`NATIVE`, `MWEB`, `APP`, `JSAPI`, `MICROPAY`).
    pub kind: String,
    pub state: TradeState,
    pub created_s: i64,
    /// When an unpaid trade closes by itself (Alipay `timeout_express`,
    /// WeChat `time_expire`).
    #[serde(default)]
    pub expires_s: Option<i64>,
    pub paid_s: Option<i64>,
    pub openid: Option<String>,
    pub code: Option<CodeBehaviour>,
    pub queries: u32,
    pub refunds: Vec<RefundRecord>,
    /// Notifications sent and acknowledged (for tests and the soak).
    pub notifications_sent: u32,
    pub notifications_acknowledged: u32,
}

impl Trade {
    /// An unpaid trade past its expiry.
    pub fn is_expired(&self, now_s: i64) -> bool {
        self.state == TradeState::WaitBuyerPay && self.expires_s.is_some_and(|at| at <= now_s)
    }

    /// What the refunds hold of the trade: all but those that failed
    /// (ABNORMAL, CLOSED).
    pub fn refunded_fen(&self) -> i64 {
        self.refunds
            .iter()
            .filter(|r| r.processing.is_some() || r.status == REFUND_SUCCESS)
            .map(|r| r.amount_fen)
            .sum()
    }

    /// Refunds what is left of a paid trade (a cancel or reverse after
    /// payment), as refund `{reason}-{out_trade_no}`.
    pub fn refund_the_rest(&mut self, reason: &str, refund_id: String, now_s: i64) {
        let remaining = self.amount_fen - self.refunded_fen();
        if remaining > 0 {
            self.refunds.push(RefundRecord::succeeded(
                format!("{reason}-{}", self.out_trade_no),
                refund_id,
                remaining,
                now_s,
            ));
        }
    }

    pub fn refund(&self, out_refund_no: &str) -> Option<&RefundRecord> {
        self.refunds
            .iter()
            .find(|r| r.out_refund_no == out_refund_no)
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Stored {
    trades: Vec<Trade>,
}

pub struct Book {
    trades: HashMap<(Provider, String), Trade>,
    tokens: HashMap<String, (Provider, String)>,
    path: Option<PathBuf>,
}

impl Book {
    pub fn open(dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut book = Book {
            trades: HashMap::new(),
            tokens: HashMap::new(),
            path: dir.map(|d| d.join(TRADES_FILE)),
        };
        if let Some(path) = book.path.as_ref().filter(|p| p.exists()) {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let stored: Stored = serde_json::from_str(&text)
                .with_context(|| format!("{} is not the simulator's trades", path.display()))?;
            for trade in stored.trades {
                book.index(trade);
            }
        }
        Ok(book)
    }

    fn index(&mut self, trade: Trade) {
        self.tokens.insert(
            trade.token.clone(),
            (trade.provider, trade.out_trade_no.clone()),
        );
        self.trades
            .insert((trade.provider, trade.out_trade_no.clone()), trade);
    }

    pub fn get(&self, provider: Provider, out_trade_no: &str) -> Option<&Trade> {
        self.trades.get(&(provider, out_trade_no.to_owned()))
    }

    pub fn by_token(&self, token: &str) -> Option<&Trade> {
        let key = self.tokens.get(token)?;
        self.trades.get(key)
    }

    pub fn by_trade_no(&self, provider: Provider, trade_no: &str) -> Option<&Trade> {
        self.trades
            .values()
            .find(|t| t.provider == provider && t.trade_no == trade_no)
    }

    pub fn all(&self) -> Vec<Trade> {
        let mut trades: Vec<Trade> = self.trades.values().cloned().collect();
        trades.sort_by(|a, b| (a.created_s, &a.out_trade_no).cmp(&(b.created_s, &b.out_trade_no)));
        trades
    }

    /// Closes the unpaid trades whose time is up; returns how many.
    pub fn close_expired(&mut self, now_s: i64) -> anyhow::Result<usize> {
        let due: Vec<Trade> = self
            .trades
            .values()
            .filter(|t| t.is_expired(now_s))
            .cloned()
            .collect();
        for mut trade in due.iter().cloned() {
            trade.state = TradeState::Closed;
            self.index(trade);
        }
        if !due.is_empty() {
            self.save()?;
        }
        Ok(due.len())
    }

    /// Inserts or replaces `trade`, written through before returning.
    pub fn put(&mut self, trade: Trade) -> anyhow::Result<()> {
        if self.trades.len() >= TRADES_MAX {
            if let Some(oldest) = self.all().first().cloned() {
                self.tokens.remove(&oldest.token);
                self.trades.remove(&(oldest.provider, oldest.out_trade_no));
            }
        }
        self.index(trade);
        self.save()
    }

    fn save(&self) -> anyhow::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let stored = Stored { trades: self.all() };
        write_private_file(path, &serde_json::to_vec(&stored)?)
    }
}

/// Writes `bytes` to `path` atomically (a sibling temporary file, synced,
/// renamed), readable by the owner only.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&temporary)
        .with_context(|| format!("writing {}", temporary.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))
}
