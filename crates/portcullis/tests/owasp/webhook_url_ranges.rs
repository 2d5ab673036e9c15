//! API7 (SSRF): webhook URLs whose address reaches into private networks
//! through an IPv6 translation range are refused. Before the fix the
//! IPv4-translated range (`::ffff:0:0:0/96`) and local-use NAT64
//! (`64:ff9b:1::/48`) passed the check.

use crate::fixtures::{ok, refused, Env};
use crate::support::Backend;

async fn translated_private_addresses_are_refused(backend: Backend) {
    let env = Env::new(backend).await;
    for url in [
        "https://[::ffff:0:7f00:1]/hooks",      // IPv4-translated 127.0.0.1
        "https://[::ffff:0:a9fe:a9fe]/hooks",   // IPv4-translated metadata
        "https://[64:ff9b:1::a9fe:a9fe]/hooks", // local-use NAT64
        "https://[64:ff9b:1::808:808]/hooks",   // local-use NAT64, any address
        "https://[2002:c0a8:101::1]/hooks",     // 6to4 of 192.168.1.1
        "https://[2002:a00:1::1]/hooks",        // 6to4 of 10.0.0.1
        "https://[2001:0:4136:e378::1]/hooks",  // Teredo
        "https://[::ffff:127.0.0.1]/hooks",     // IPv4-mapped loopback
        "https://[64:ff9b::7f00:1]/hooks",      // well-known NAT64 of loopback
    ] {
        let answer = env
            .api
            .post(
                "/v1/webhook_endpoints",
                &[("url", url), ("enabled_events[]", "*")],
            )
            .await;
        assert_eq!(refused(&answer, 400)["code"], "url_invalid", "{url}");
    }
    // A public IPv6 literal is still accepted.
    ok(&env
        .api
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", "https://[2606:4700:4700::1111]/hooks"),
                ("enabled_events[]", "*"),
            ],
        )
        .await);
}

crate::on_both_backends!(translated_private_addresses_are_refused);
