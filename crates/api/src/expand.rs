//! `expand[]`: replace an id field by the object it names, e.g.
//! `expand[]=customer` on a payment intent. Each resource declares which of
//! its fields are expandable; list endpoints take the same paths under `data.`.
//!
//! An expansion is a read of the expanded object, so it is authorised as
//! one: a restricted key needs read access to the expanded resource, and a
//! publishable key may expand nothing (it sees only the few fields Stripe
//! shows it). Both are checked while parsing, before anything is executed,
//! so a refused expansion never follows a committed write.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use portcullis_domain::api_keys::{Access, KeyKind};
use portcullis_store::{Table, WriteOp, WriteSet};
use serde_json::Value;

/// Most expansions one request may ask for.
pub const EXPANSIONS_MAX: usize = 20;

/// Validated expansion paths, each a list of field names.
#[derive(Debug, Default)]
pub struct Expand(Vec<Vec<String>>);

impl Expand {
    /// Checks `paths` against the resource's `expandable` fields (on a list
    /// endpoint each path must start with `data.`), and that `caller` may
    /// read what each path expands to.
    pub fn parse(
        caller: &Caller,
        paths: Vec<String>,
        expandable: &[&str],
        in_list: bool,
    ) -> ApiResult<Self> {
        if paths.len() > EXPANSIONS_MAX {
            return Err(ApiError::invalid(
                "parameter_invalid",
                format!("You may expand at most {EXPANSIONS_MAX} paths."),
                "expand",
            ));
        }
        let mut parsed = Vec::with_capacity(paths.len());
        for (i, path) in paths.iter().enumerate() {
            let field = if in_list {
                path.strip_prefix("data.")
            } else {
                Some(path.as_str())
            };
            match field {
                Some(field) if expandable.contains(&field) => {
                    authorize(caller, field, i)?;
                    parsed.push(field.split('.').map(str::to_owned).collect());
                }
                _ => {
                    return Err(ApiError::invalid(
                        "parameter_invalid",
                        format!("This property cannot be expanded ({path})."),
                        format!("expand[{i}]"),
                    ))
                }
            }
        }
        Ok(Self(parsed))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Replaces each expandable id in `object` by the object it names, as
    /// it will be once `pending` (the request's uncommitted writes, if any)
    /// commits: the answer and the stored idempotent response must show the
    /// request's own effects.
    pub async fn apply(
        &self,
        state: &AppState,
        caller: &Caller,
        object: &mut Value,
        pending: Option<&WriteSet>,
    ) -> ApiResult<()> {
        for path in &self.0 {
            let Some(slot) = slot_at(object, path) else {
                continue;
            };
            if let Value::String(id) = slot {
                // Parsing authorised the path; the id's own resource is
                // checked too, so no expansion reads more than the key may.
                if let Some(resource) = resource_of_id(id) {
                    caller.require(resource, Access::Read)?;
                }
                let found = match pending.and_then(|writes| written(writes, id)) {
                    Some((table, body)) => render_written(table, body)?,
                    None => resolve(state, caller, id).await?,
                };
                if let Some(expanded) = found {
                    *slot = expanded;
                }
            }
        }
        Ok(())
    }
}

/// The resource (as restricted-key permissions name it) that expandable
/// field `field` holds an id of.
fn resource_of(field: &str) -> &str {
    match field.rsplit('.').next().unwrap_or(field) {
        "customer" => "customers",
        "payment_method" | "default_payment_method" => "payment_methods",
        "latest_charge" | "charge" => "charges",
        "payment_intent" => "payment_intents",
        "default_source" => "sources",
        other => other,
    }
}

/// Refuses the expansion of `field` (the `index`th path) to a caller that
/// may not read what it names.
fn authorize(caller: &Caller, field: &str, index: usize) -> ApiResult<()> {
    if caller.kind == KeyKind::Publishable {
        return Err(ApiError::invalid(
            "parameter_invalid",
            format!("This property cannot be expanded with a publishable API key ({field})."),
            format!("expand[{index}]"),
        ));
    }
    caller.require(resource_of(field), Access::Read)
}

/// The resource an object id names, by its prefix.
fn resource_of_id(id: &str) -> Option<&'static str> {
    match id.split('_').next() {
        Some("cus") => Some("customers"),
        Some("pi") => Some("payment_intents"),
        Some("ch") => Some("charges"),
        Some("pm") => Some("payment_methods"),
        _ => None,
    }
}

fn slot_at<'v>(object: &'v mut Value, path: &[String]) -> Option<&'v mut Value> {
    path.iter()
        .try_fold(object, |node, field| node.get_mut(field))
}

/// The last body a write set gives object `id`, with its table.
fn written<'w>(writes: &'w WriteSet, id: &str) -> Option<(Table, &'w str)> {
    writes.ops.iter().rev().find_map(|op| match op {
        WriteOp::Insert {
            table,
            id: written,
            body,
            ..
        }
        | WriteOp::Update {
            table,
            id: written,
            body,
            ..
        } if written == id => Some((*table, body.as_str())),
        _ => None,
    })
}

fn render_written(table: Table, body: &str) -> ApiResult<Option<Value>> {
    let decode = |e: serde_json::Error| ApiError::internal(&e);
    Ok(match table {
        Table::Customers => Some(crate::customers::render(
            &serde_json::from_str(body).map_err(decode)?,
        )),
        Table::PaymentIntents | Table::Charges | Table::PaymentMethods => {
            crate::payments::render_stored(table, body)?
        }
        _ => None,
    })
}

/// The object an id names, rendered, if the caller may see it.
async fn resolve(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Option<Value>> {
    match id.split('_').next() {
        Some("cus") => crate::customers::render_by_id(state, caller, id).await,
        Some("pi" | "ch" | "pm") => crate::payments::render_by_id(state, &caller.scope(), id).await,
        _ => Ok(None),
    }
}
