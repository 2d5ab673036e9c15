//! An answer's JSON body: a `Value` tree that callers may still edit
//! (expand, cut down for a publishable key), or bytes rendered once from a
//! typed object and shared with the event that carries the same object.
//!
//! Why both: a succeeded payment's answer is its intent, and so is its
//! `payment_intent.succeeded` event. Building a tree for the answer, then
//! writing it out, then serializing the intent again for the event cost
//! three renderings of one object per payment; rendered once, the answer
//! and the event hold the same bytes. Only an answer that is edited
//! (`expand[]`, a publishable key) pays for a tree, parsed from the bytes.

use crate::error::{ApiError, ApiResult};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;

/// The JSON of an answer. Both forms write the same bytes for the same
/// object: `preserve_order` keeps a tree's fields in the order the typed
/// object wrote them, so parsing rendered bytes and writing the tree out
/// gives the bytes back.
#[derive(Debug)]
pub enum AnswerBody {
    /// A tree, built by `json!` or edited after rendering.
    Tree(Value),
    /// An object written once by its typed serializer.
    Rendered(Box<RawValue>),
}

impl AnswerBody {
    /// The body as a tree to read: borrowed when it is one, parsed from
    /// the rendered bytes otherwise.
    pub fn tree(&self) -> ApiResult<Cow<'_, Value>> {
        match self {
            AnswerBody::Tree(tree) => Ok(Cow::Borrowed(tree)),
            AnswerBody::Rendered(raw) => parse(raw).map(Cow::Owned),
        }
    }

    /// The body as a tree to edit.
    pub fn into_tree(self) -> ApiResult<Value> {
        match self {
            AnswerBody::Tree(tree) => Ok(tree),
            AnswerBody::Rendered(raw) => parse(&raw),
        }
    }

    /// The bytes the client gets (and a keyed request stores).
    pub fn into_string(self) -> String {
        match self {
            AnswerBody::Tree(tree) => tree.to_string(),
            AnswerBody::Rendered(raw) => String::from(Box::<str>::from(raw)),
        }
    }
}

impl From<Value> for AnswerBody {
    fn from(tree: Value) -> Self {
        AnswerBody::Tree(tree)
    }
}

fn parse(raw: &RawValue) -> ApiResult<Value> {
    serde_json::from_str(raw.get()).map_err(|e| ApiError::internal(&e))
}

#[cfg(test)]
mod tests {
    use super::AnswerBody;
    use serde_json::json;

    #[derive(serde::Serialize)]
    struct Object {
        id: &'static str,
        amount: i64,
        nested: Option<Vec<&'static str>>,
        zebra: bool,
        apple: Option<i64>,
    }

    const OBJECT: Object = Object {
        id: "pi_1",
        amount: -5,
        nested: None,
        zebra: true,
        apple: Some(u32::MAX as i64),
    };

    /// Rendered bytes are those the old path wrote (a tree from
    /// `to_value`, then `to_string`), and a tree parsed from them equals
    /// that tree, fields in the typed object's order.
    #[test]
    fn a_rendered_body_writes_the_bytes_of_its_tree_and_parses_back_to_it() {
        let tree = serde_json::to_value(&OBJECT).unwrap();
        let rendered = AnswerBody::Rendered(serde_json::value::to_raw_value(&OBJECT).unwrap());
        assert_eq!(*rendered.tree().unwrap(), tree);
        assert_eq!(
            rendered.tree().unwrap().to_string(),
            AnswerBody::Tree(tree.clone()).into_string()
        );
        assert_eq!(rendered.into_string(), tree.to_string());
        assert_eq!(
            AnswerBody::from(json!({"b": 1, "a": 2})).into_string(),
            r#"{"b":1,"a":2}"#
        );
    }
}
