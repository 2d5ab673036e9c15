//! Account emails over SMTP (`lettre`): the messages in English and
//! Simplified Chinese, and a mailer that sends them after the write that
//! made them true has committed, off the request (so answers take the same
//! time whether or not a message goes out), with bounded retries.

use super::AccountSettings;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use portcullis_domain::accounts::Locale;
use portcullis_domain::customers::Email;
use std::time::Duration;

/// Attempts per message before it is given up (and logged).
const SEND_ATTEMPTS_MAX: u32 = 4;
/// The first pause between attempts; each next one doubles.
const SEND_RETRY_BASE_MS: u64 = 500;

/// Which message to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    Activation,
    Invitation,
    /// Someone tried to register an address that has an account already.
    AlreadyRegistered,
    PasswordReset,
    EmailChange,
    /// To the old address: a change to another one was asked.
    EmailChangeNotice,
    PasswordChanged,
    /// A one-time code to confirm a payment from the balance.
    StepUpCode,
}

/// A message ready to send: the recipient, the language and the link.
pub struct Outgoing {
    pub to: Email,
    pub locale: Locale,
    pub kind: MessageKind,
    /// The link the message carries (with its token), or the one-time
    /// code it tells, if any.
    pub link: Option<String>,
    /// The merchant's name or id, shown as the sender's display name.
    pub account_ref: String,
}

#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Option<Mailbox>,
}

impl Mailer {
    /// From the settings; `smtp_url` was checked when the settings were
    /// loaded ([`AccountSettings::check`]). Without one, nothing is sent
    /// and each message is logged as dropped.
    pub fn new(settings: &AccountSettings) -> Self {
        let transport = settings.smtp_url.as_deref().and_then(|url| {
            transport_of(url, settings.smtp_timeout_ms)
                .map_err(|err| tracing::error!(error = %err, "smtp_url unusable; account email disabled"))
                .ok()
        });
        let from = settings.smtp_from.parse::<Mailbox>().ok();
        Self { transport, from }
    }

    /// Sends `message` in the background.
    pub fn send_later(&self, message: Outgoing) {
        let mailer = self.clone();
        tokio::spawn(async move { mailer.send(message).await });
    }

    async fn send(&self, message: Outgoing) {
        let (Some(transport), Some(from)) = (&self.transport, &self.from) else {
            tracing::warn!(kind = ?message.kind, account = %message.account_ref, "no smtp_url configured: account email not sent");
            return;
        };
        let email = match build(from.clone(), &message) {
            Ok(email) => email,
            Err(err) => {
                tracing::error!(error = %err, account = %message.account_ref, "account email could not be built");
                return;
            }
        };
        let mut pause_ms = SEND_RETRY_BASE_MS;
        for attempt in 1..=SEND_ATTEMPTS_MAX {
            match transport.send(email.clone()).await {
                Ok(_) => {
                    tracing::info!(kind = ?message.kind, account = %message.account_ref, "account email sent");
                    return;
                }
                Err(err) if attempt < SEND_ATTEMPTS_MAX => {
                    tracing::warn!(error = %err, attempt, "account email not sent yet; retrying");
                    tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                    pause_ms *= 2;
                }
                Err(err) => {
                    tracing::error!(error = %err, kind = ?message.kind, account = %message.account_ref, "account email given up");
                }
            }
        }
    }
}

/// Checks that `url` names a transport, without building one (building
/// starts a connection pool, which needs the runtime).
pub fn check_url(url: &str) -> Result<(), lettre::transport::smtp::Error> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map(|_| ())
}

/// The transport for `smtp://host:port` (plain, for a local relay),
/// `smtp://…?tls=required` (STARTTLS) or `smtps://…` (TLS).
pub fn transport_of(
    url: &str,
    timeout_ms: u64,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, lettre::transport::smtp::Error> {
    Ok(AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
        .timeout(Some(Duration::from_millis(timeout_ms)))
        .build())
}

fn build(from: Mailbox, message: &Outgoing) -> Result<Message, lettre::error::Error> {
    let to = Mailbox::new(
        None,
        message
            .to
            .as_str()
            .parse()
            .map_err(|_| lettre::error::Error::MissingTo)?,
    );
    let (subject, body) = text(message.kind, message.locale, message.link.as_deref());
    Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
}

/// Subject and body of a message in a language.
pub fn text(kind: MessageKind, locale: Locale, link: Option<&str>) -> (String, String) {
    let link = link.unwrap_or_default();
    let (subject, lead, tail) = match (locale, kind) {
        (Locale::En, MessageKind::Activation) => (
            "Activate your account",
            "Welcome! Confirm your email address and activate your account by opening this link within 24 hours:",
            "If you did not create an account, ignore this message.",
        ),
        (Locale::ZhCn, MessageKind::Activation) => (
            "激活您的账户",
            "欢迎！请在 24 小时内打开以下链接，确认您的电子邮件地址并激活账户：",
            "如果您没有注册账户，请忽略此邮件。",
        ),
        (Locale::En, MessageKind::Invitation) => (
            "You are invited to create your account",
            "You have been invited to create an account. Choose your password by opening this link within 24 hours:",
            "If you were not expecting this invitation, ignore this message.",
        ),
        (Locale::ZhCn, MessageKind::Invitation) => (
            "邀请您创建账户",
            "您受邀创建账户。请在 24 小时内打开以下链接并设置密码：",
            "如果您没有预期收到此邀请，请忽略此邮件。",
        ),
        (Locale::En, MessageKind::AlreadyRegistered) => (
            "Someone tried to register with your email address",
            "Someone tried to create an account with this email address, which already has one. If it was you, sign in, or reset your password here:",
            "If it was not you, your account is safe and you need do nothing.",
        ),
        (Locale::ZhCn, MessageKind::AlreadyRegistered) => (
            "有人尝试使用您的电子邮件地址注册",
            "有人尝试使用此电子邮件地址注册，但该地址已有账户。如果是您本人，请直接登录，或在此重置密码：",
            "如果不是您本人操作，您的账户是安全的，无需任何操作。",
        ),
        (Locale::En, MessageKind::PasswordReset) => (
            "Reset your password",
            "To choose a new password, open this link within one hour:",
            "If you did not ask to reset your password, ignore this message; your password stays the same.",
        ),
        (Locale::ZhCn, MessageKind::PasswordReset) => (
            "重置您的密码",
            "请在一小时内打开以下链接设置新密码：",
            "如果您没有申请重置密码，请忽略此邮件，您的密码不会改变。",
        ),
        (Locale::En, MessageKind::EmailChange) => (
            "Confirm your new email address",
            "To make this your account's email address, open this link within one hour:",
            "If you did not ask for this change, ignore this message.",
        ),
        (Locale::ZhCn, MessageKind::EmailChange) => (
            "确认您的新电子邮件地址",
            "请在一小时内打开以下链接，将此地址设为您账户的电子邮件地址：",
            "如果您没有申请此更改，请忽略此邮件。",
        ),
        (Locale::En, MessageKind::EmailChangeNotice) => (
            "Your account's email address is being changed",
            "A change of your account's email address to another address was asked. It takes effect only once the new address is confirmed.",
            "If it was not you, change your password now.",
        ),
        (Locale::ZhCn, MessageKind::EmailChangeNotice) => (
            "您账户的电子邮件地址正在更改",
            "有人申请将您账户的电子邮件地址更改为其他地址，新地址确认后才会生效。",
            "如果不是您本人操作，请立即修改密码。",
        ),
        (Locale::En, MessageKind::PasswordChanged) => (
            "Your password was changed",
            "Your account's password was changed, and your other sessions were signed out.",
            "If it was not you, reset your password at once.",
        ),
        (Locale::ZhCn, MessageKind::PasswordChanged) => (
            "您的密码已更改",
            "您账户的密码已更改，其他设备上的会话已退出。",
            "如果不是您本人操作，请立即重置密码。",
        ),
        (Locale::En, MessageKind::StepUpCode) => (
            "Your code to confirm a payment",
            "To confirm the payment from your balance, enter this code within 10 minutes. It works once:",
            "If you are not paying right now, do not give this code to anyone and change your password.",
        ),
        (Locale::ZhCn, MessageKind::StepUpCode) => (
            "您的付款确认验证码",
            "请在 10 分钟内输入以下验证码，确认使用余额付款。验证码仅可使用一次：",
            "如果您当前没有付款，请勿将此验证码告诉任何人，并修改密码。",
        ),
    };
    let body = if link.is_empty() {
        format!("{lead}\n\n{tail}\n")
    } else {
        format!("{lead}\n\n{link}\n\n{tail}\n")
    };
    (subject.to_owned(), body)
}
