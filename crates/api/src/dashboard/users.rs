//! Dashboard users: one person at one merchant, with a role. Created by
//! `portcullis user create` (pending, with a one-time activation token),
//! activated by choosing a password (Argon2id, see `accounts::passwords`),
//! locked for a while after too many failed sign-ins.
//!
//! Documents live in the merchant's test-mode scope; the email key is
//! unique across merchants, so sign-in asks only for the address.

use crate::error::{ApiError, ApiResult};
use portcullis_domain::api_keys::KeyHashSecret;
use portcullis_domain::customers::Email;
use portcullis_domain::ids::{new_id, MerchantId};
use portcullis_domain::UnixSeconds;
use portcullis_store::{Doc, ScanOp, ScanQuery, Scope, SqlValue, Store, Table, WriteOp};
use serde::{Deserialize, Serialize};

pub const USER_PREFIX: &str = "dusr";
/// Activation tokens (`dat_…`) and session tokens (`dss_…`).
pub const ACTIVATION_PREFIX: &str = "dat_";
pub const SESSION_PREFIX: &str = "dss_";
/// Longest token text looked at.
pub const TOKEN_CHARS_MAX: usize = 64;
/// How long an activation link works.
pub const ACTIVATION_TTL_S: i64 = 7 * 24 * 3600;

/// What a user may do; see [`Role::may`] for the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Developer,
    Analyst,
    Support,
}

/// The things a page or an action needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Payments, customers, reviews, balances and payouts, charts.
    ViewPayments,
    /// Refund and capture payments.
    MovePayments,
    /// Approve reviews (or refund them as fraud).
    DecideReviews,
    /// Webhook endpoints and their delivery logs.
    ViewWebhooks,
    /// Resend a webhook event.
    ResendWebhooks,
    /// See, create, roll and revoke API keys.
    ManageKeys,
    /// See risk rules and lists.
    ViewRisk,
    /// Create, disable, enable and delete risk rules; add and remove list items.
    EditRisk,
    /// Switch the dashboard to live mode and see live objects.
    ViewLive,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Developer, Role::Analyst, Role::Support];

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Developer => "developer",
            Role::Analyst => "analyst",
            Role::Support => "support",
        }
    }

    /// The permission matrix (README, "Merchant dashboard"):
    ///
    /// | permission      | owner | developer | analyst | support |
    /// |-----------------|-------|-----------|---------|---------|
    /// | view payments   | yes   | yes       | yes     | yes     |
    /// | refund, capture | yes   | no        | no      | yes     |
    /// | decide reviews  | yes   | no        | no      | yes     |
    /// | view webhooks   | yes   | yes       | no      | yes     |
    /// | resend webhooks | yes   | yes       | no      | yes     |
    /// | API keys        | yes   | yes       | no      | no      |
    /// | view risk       | yes   | yes       | yes     | yes     |
    /// | edit risk       | yes   | yes       | no      | no      |
    /// | view live mode  | yes   | yes       | yes     | yes     |
    pub fn may(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Owner => true,
            Role::Developer => !matches!(permission, MovePayments | DecideReviews),
            Role::Analyst => matches!(permission, ViewPayments | ViewRisk | ViewLive),
            Role::Support => !matches!(permission, ManageKeys | EditRisk),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Created; the activation link was not followed yet.
    Pending,
    Active,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Pending => "pending",
            UserStatus::Active => "active",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DashboardUser {
    pub id: String,
    pub merchant: MerchantId,
    pub email: String,
    pub role: Role,
    pub status: UserStatus,
    pub created: UnixSeconds,
    /// The Argon2id PHC string, once activated.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Digest of the one-time activation token while pending.
    #[serde(default)]
    pub activation_hash: Option<String>,
    #[serde(default)]
    pub activation_expires_at: Option<UnixSeconds>,
    /// Failed sign-ins since the last success, and the lock they caused.
    #[serde(default)]
    pub failed_logins: u32,
    #[serde(default)]
    pub locked_until: Option<UnixSeconds>,
    /// The TOTP secret sealed by the vault (`sealed_secrets` member), once
    /// the user turned the second factor on.
    #[serde(default)]
    pub totp: Option<serde_json::Value>,
    /// The RFC 6238 time step of the last code accepted (turning the
    /// factor on, or signing in): no code of that step or before is
    /// accepted again.
    #[serde(default)]
    pub totp_last_step: Option<i64>,
}

impl DashboardUser {
    pub fn is_locked(&self, now: UnixSeconds) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }

    /// After a wrong password: counts it, and locks at `failures_max`.
    pub fn failed_login(&self, failures_max: u32, lock_s: i64, now: UnixSeconds) -> Self {
        let mut next = self.clone();
        next.failed_logins = self.failed_logins.saturating_add(1);
        if next.failed_logins >= failures_max {
            next.locked_until = Some(now + lock_s);
            next.failed_logins = 0;
        }
        next
    }

    pub fn signed_in(&self) -> Self {
        let mut next = self.clone();
        next.failed_logins = 0;
        next.locked_until = None;
        next
    }
}

/// Where every dashboard user document lives: its merchant's test scope.
pub fn scope_of(merchant: &MerchantId) -> Scope {
    Scope {
        merchant_id: merchant.clone(),
        livemode: false,
    }
}

/// What storage keeps of a token: a keyed digest.
pub fn digest(hasher: &KeyHashSecret, token: &str) -> String {
    hasher.keyed_digest("dashboard_token", token)
}

/// A new secret with `prefix`, 256 random bits.
pub fn generate_token(prefix: &str) -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

fn columns(user: &DashboardUser) -> Vec<(&'static str, SqlValue)> {
    vec![
        ("email_key", SqlValue::Text(user.email.to_lowercase())),
        (
            "activation_hash",
            user.activation_hash
                .clone()
                .map_or(SqlValue::Null, SqlValue::Text),
        ),
        ("status", SqlValue::Text(user.status.as_str().to_owned())),
        // The key wrapping the TOTP secret, so key rotation finds it.
        (
            "kek_id",
            user.totp
                .as_ref()
                .and_then(|sealed| sealed["kek_id"].as_str())
                .map_or(SqlValue::Null, |kek_id| SqlValue::Text(kek_id.to_owned())),
        ),
    ]
}

fn body(user: &DashboardUser) -> ApiResult<String> {
    serde_json::to_string(user).map_err(|err| ApiError::internal(&err))
}

pub fn insert(user: &DashboardUser) -> ApiResult<WriteOp> {
    Ok(WriteOp::Insert {
        table: Table::DashboardUsers,
        scope: scope_of(&user.merchant),
        id: user.id.clone(),
        created: user.created,
        columns: columns(user),
        body: body(user)?,
    })
}

pub fn update(doc: &Doc, user: &DashboardUser) -> ApiResult<WriteOp> {
    Ok(WriteOp::Update {
        table: Table::DashboardUsers,
        scope: scope_of(&user.merchant),
        id: user.id.clone(),
        expected_version: doc.version,
        columns: columns(user),
        body: body(user)?,
    })
}

/// The user whose `column` is `value`, in any merchant (sign-in and
/// activation come before anyone knows the merchant; both columns have a
/// unique index).
pub async fn find(
    store: &Store,
    column: &'static str,
    value: &str,
) -> ApiResult<Option<(Doc, DashboardUser)>> {
    let found = store
        .scan(
            Table::DashboardUsers,
            &ScanQuery {
                filters: vec![(column, ScanOp::Equal, SqlValue::Text(value.to_owned()))],
                created_before: None,
                limit: 1,
            },
        )
        .await?;
    match found.into_iter().next() {
        Some(scoped) => {
            let user =
                serde_json::from_str(&scoped.doc.body).map_err(|e| ApiError::internal(&e))?;
            Ok(Some((scoped.doc, user)))
        }
        None => Ok(None),
    }
}

pub async fn load(
    store: &Store,
    merchant: &MerchantId,
    id: &str,
) -> ApiResult<(Doc, DashboardUser)> {
    let doc = store
        .get(Table::DashboardUsers, &scope_of(merchant), id)
        .await?
        .ok_or_else(|| ApiError::internal(&"a session names a missing dashboard user"))?;
    let user = serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))?;
    Ok((doc, user))
}

/// Why `portcullis user create` refused.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{0:?} is not an email address")]
    Email(String),
    #[error("a dashboard user with the address {0} exists already")]
    Taken(String),
    #[error("{0}")]
    Store(String),
}

/// Creates a pending user and answers it with its activation token (shown
/// once; storage keeps its digest).
pub async fn create(
    store: &Store,
    hasher: &KeyHashSecret,
    merchant: &MerchantId,
    email: &str,
    role: Role,
    now: UnixSeconds,
) -> Result<(DashboardUser, String), CreateError> {
    let email = Email::parse(email).map_err(|_| CreateError::Email(email.to_owned()))?;
    let token = generate_token(ACTIVATION_PREFIX);
    let user = DashboardUser {
        id: new_id(USER_PREFIX),
        merchant: merchant.clone(),
        email: email.as_str().to_owned(),
        role,
        status: UserStatus::Pending,
        created: now,
        password_hash: None,
        activation_hash: Some(digest(hasher, &token)),
        activation_expires_at: Some(now + ACTIVATION_TTL_S),
        failed_logins: 0,
        locked_until: None,
        totp: None,
        totp_last_step: None,
    };
    let op = insert(&user).map_err(|e| CreateError::Store(e.message.clone()))?;
    match store
        .commit(portcullis_store::WriteSet { ops: vec![op] })
        .await
    {
        Ok(()) => Ok((user, token)),
        Err(portcullis_store::StoreError::Duplicate) => {
            Err(CreateError::Taken(email.as_str().to_owned()))
        }
        Err(err) => Err(CreateError::Store(err.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_gives_each_role_what_the_readme_says() {
        use Permission::*;
        let all = [
            ViewPayments,
            MovePayments,
            DecideReviews,
            ViewWebhooks,
            ResendWebhooks,
            ManageKeys,
            ViewRisk,
            EditRisk,
            ViewLive,
        ];
        assert!(all.iter().all(|p| Role::Owner.may(*p)));
        assert!(Role::Developer.may(ManageKeys) && Role::Developer.may(ResendWebhooks));
        assert!(!Role::Developer.may(MovePayments) && !Role::Developer.may(DecideReviews));
        assert!(Role::ALL.iter().all(|role| role.may(ViewLive)));
        assert!(Role::Support.may(MovePayments) && Role::Support.may(DecideReviews));
        assert!(!Role::Support.may(ManageKeys) && !Role::Support.may(EditRisk));
        assert!(Role::Developer.may(EditRisk));
        let analyst: Vec<_> = all.iter().filter(|p| Role::Analyst.may(**p)).collect();
        assert_eq!(analyst, vec![&ViewPayments, &ViewRisk, &ViewLive]);
    }

    #[test]
    fn failures_lock_at_the_maximum() {
        let user = DashboardUser {
            id: "dusr_1".into(),
            merchant: MerchantId::parse("acct_1").unwrap(),
            email: "a@b.c".into(),
            role: Role::Owner,
            status: UserStatus::Active,
            created: 0,
            password_hash: None,
            activation_hash: None,
            activation_expires_at: None,
            failed_logins: 0,
            locked_until: None,
            totp: None,
            totp_last_step: None,
        };
        let once = user.failed_login(2, 1800, 100);
        assert!(!once.is_locked(100));
        let twice = once.failed_login(2, 1800, 100);
        assert!(twice.is_locked(100) && twice.is_locked(1899) && !twice.is_locked(1900));
        assert!(!twice.signed_in().is_locked(100));
    }
}
