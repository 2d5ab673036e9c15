//! API3: search page tokens are opaque. Before the fix `next_page` was
//! `page_<row number>`, a counter shared by every merchant, so it leaked
//! the platform's row count and could be edited.

use crate::fixtures::{create_customer, ok, refused, Env};
use crate::support::{create_merchant, Api, Backend};

async fn page_tokens_are_opaque_and_bound_to_their_search(backend: Backend) {
    let env = Env::new(backend).await;
    for i in 0..3 {
        create_customer(&env.api, &format!("c{i}@example.com")).await;
    }
    let search = |api: &Api, page: Option<&str>, path: &str| {
        let mut query = vec![("query", "created>0"), ("limit", "1")];
        if let Some(page) = page {
            query.push(("page", page));
        }
        api.http.get(env.server.url(path)).query(&query)
    };
    let first = ok(&env
        .api
        .send(search(&env.api, None, "/v1/customers/search"))
        .await);
    let token = first["next_page"].as_str().expect("a next page").to_owned();
    let body = token.strip_prefix("page_").unwrap_or(&token);
    assert!(
        !body.bytes().all(|b| b.is_ascii_digit()),
        "token {token} is a row number"
    );
    // The token leads to the next page, then the last.
    let mut seen = vec![first["data"][0]["id"].clone()];
    let mut page = Some(token.clone());
    while let Some(next) = page {
        let answer = ok(&env
            .api
            .send(search(&env.api, Some(&next), "/v1/customers/search"))
            .await);
        seen.push(answer["data"][0]["id"].clone());
        page = answer["next_page"].as_str().map(str::to_owned);
    }
    seen.dedup();
    assert_eq!(seen.len(), 3, "{seen:?}");

    // Edited, foreign-search and other-merchant tokens are refused.
    let mut edited = token.clone().into_bytes();
    let last = edited.len() - 1;
    edited[last] = if edited[last] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).unwrap();
    for bad in [edited.as_str(), "page_1", "page_999999"] {
        let answer = env
            .api
            .send(search(&env.api, Some(bad), "/v1/customers/search"))
            .await;
        assert_eq!(refused(&answer, 400)["param"], "page", "{bad}");
    }
    let answer = env
        .api
        .send(search(&env.api, Some(&token), "/v1/payment_intents/search"))
        .await;
    refused(&answer, 400);
    let other = create_merchant(&env.db, "Other");
    let other_api = Api::new(&env.server, &other.secret_key);
    let answer = other_api
        .send(search(&other_api, Some(&token), "/v1/customers/search"))
        .await;
    refused(&answer, 400);
}

crate::on_both_backends!(page_tokens_are_opaque_and_bound_to_their_search);
