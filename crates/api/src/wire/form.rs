//! `application/x-www-form-urlencoded` with Stripe's bracket notation:
//! `metadata[order]=6735`, `expand[]=customer`, `items[0][price]=x`,
//! brackets escaped or not. Parsed into a JSON tree of objects and strings;
//! list indices stay object keys (`"0"`, `"1"`, …) and [`super::params`]
//! reads such objects as lists, so `metadata[0]=x` keeps meaning key "0".

use crate::error::ApiError;
use serde_json::{Map, Value};

/// Deepest bracket nesting accepted (`a[b][c][d][e]` is depth 5).
pub const FORM_DEPTH_MAX: usize = 5;
/// Most fields one body may carry.
pub const FORM_FIELDS_MAX: usize = 1_000;

pub fn parse_form(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let mut root = Map::new();
    for (count, (key, value)) in form_urlencoded::parse(body).enumerate() {
        if count == FORM_FIELDS_MAX {
            return Err(ApiError::invalid(
                "parameter_invalid",
                format!("A request may carry at most {FORM_FIELDS_MAX} parameters."),
                "",
            ));
        }
        let path = split_key(&key)?;
        insert(&mut root, &key, &path, value.into_owned())?;
    }
    Ok(root)
}

/// `a[b][]` → `["a", "b", ""]`.
fn split_key(key: &str) -> Result<Vec<&str>, ApiError> {
    let malformed = || {
        ApiError::invalid(
            "parameter_invalid",
            format!("Malformed parameter name: {}", crate::error::echo(key)),
            crate::error::echo(key),
        )
    };
    let (head, mut rest) = match key.find('[') {
        Some(at) => (&key[..at], &key[at..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return Err(malformed());
    }
    let mut path = vec![head];
    while !rest.is_empty() {
        let inner_end = rest
            .find(']')
            .filter(|_| rest.starts_with('['))
            .ok_or_else(malformed)?;
        let segment = &rest[1..inner_end];
        if segment.contains('[') {
            return Err(malformed());
        }
        path.push(segment);
        rest = &rest[inner_end + 1..];
    }
    if path.len() > FORM_DEPTH_MAX {
        return Err(malformed());
    }
    Ok(path)
}

fn insert(
    node: &mut Map<String, Value>,
    full_key: &str,
    path: &[&str],
    value: String,
) -> Result<(), ApiError> {
    let conflict = || {
        ApiError::invalid(
            "parameter_invalid",
            format!(
                "Parameter {} conflicts with another parameter of the same name.",
                crate::error::echo(full_key)
            ),
            crate::error::echo(full_key),
        )
    };
    // `[]` appends: it takes the next free index.
    let segment = match path[0] {
        "" => node.len().to_string(),
        name => name.to_owned(),
    };
    if path.len() == 1 {
        // A name given twice (`limit=5&limit=9`) is ambiguous: refused,
        // never resolved by keeping one of them.
        if node.contains_key(&segment) {
            return Err(conflict());
        }
        node.insert(segment, Value::String(value));
        return Ok(());
    }
    let child = node
        .entry(segment)
        .or_insert_with(|| Value::Object(Map::new()));
    match child {
        Value::Object(map) => insert(map, full_key, &path[1..], value),
        _ => Err(conflict()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: &str) -> Value {
        Value::Object(parse_form(body.as_bytes()).unwrap())
    }

    #[test]
    fn brackets_nest_escaped_or_not() {
        assert_eq!(
            parse("metadata[order]=6735&address%5Bcity%5D=Berlin&name=Jenny+Rosen"),
            json!({"metadata": {"order": "6735"}, "address": {"city": "Berlin"}, "name": "Jenny Rosen"})
        );
    }

    #[test]
    fn empty_brackets_append_and_indices_are_keys() {
        assert_eq!(
            parse("expand[]=a&expand[]=b&items[0][p]=x&items[1][p]=y"),
            json!({"expand": {"0": "a", "1": "b"}, "items": {"0": {"p": "x"}, "1": {"p": "y"}}})
        );
    }

    #[test]
    fn empty_values_are_kept_for_unsetting() {
        assert_eq!(
            parse("description=&metadata="),
            json!({"description": "", "metadata": ""})
        );
    }

    #[test]
    fn malformed_and_conflicting_names_are_refused() {
        for bad in [
            "limit=5&limit=9",
            "created[lt]=1&created[lt]=2",
            "a[b=1",
            "[a]=1",
            "a]b[=1",
            "a=1&a[b]=2",
            "a[b]=2&a=1",
            "a[b[c]]=1",
            "a[1][2][3][4][5]=1",
        ] {
            assert!(parse_form(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
