//! Issue 12 item 23: PostgreSQL tests that cannot reach the server fail
//! in a plain `cargo test`; only an explicit `PORTCULLIS_SKIP_POSTGRES=1`
//! skips them, and never under `CI=true`.

use crate::support::{when_postgres_unreachable, Unreachable};

#[test]
fn unreachable_postgres_fails_a_plain_test_run() {
    assert_eq!(when_postgres_unreachable(None, None), Unreachable::Fail);
    assert_eq!(
        when_postgres_unreachable(Some("false"), None),
        Unreachable::Fail
    );
}

#[test]
fn only_an_explicit_opt_out_skips() {
    assert_eq!(
        when_postgres_unreachable(None, Some("1")),
        Unreachable::Skip
    );
    assert_eq!(
        when_postgres_unreachable(None, Some("yes")),
        Unreachable::Fail
    );
    assert_eq!(
        when_postgres_unreachable(None, Some("0")),
        Unreachable::Fail
    );
}

#[test]
fn ci_refuses_the_opt_out() {
    assert_eq!(
        when_postgres_unreachable(Some("true"), Some("1")),
        Unreachable::Fail
    );
    assert_eq!(
        when_postgres_unreachable(Some("true"), None),
        Unreachable::Fail
    );
}
