//! What every hosted page shares — the hosted checkout, the merchant
//! dashboard, the customer account pages and the 3-D Secure page: the
//! language a page speaks ([`Locale`], English or Simplified Chinese) and
//! amounts written the way that language writes them ([`money`]).
//!
//! Each page family lives in its own module and renders server-side from
//! askama templates under `crates/api/templates/<family>/`; its scripts and
//! styles are files of the binary served from its own path (the policy in
//! `security_headers` allows scripts, styles and images from the gateway's
//! own origin only — never inline scripts, never another host).

pub mod locale;
pub mod money;

pub use locale::Locale;
