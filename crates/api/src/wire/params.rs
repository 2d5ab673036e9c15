//! Typed, strict reading of request parameters, from form or JSON bodies
//! alike. Each accessor *takes* its parameter; `finish` then refuses any
//! parameter nobody took (`parameter_unknown`, naming it), so a client that
//! sets `status` or `amount_received` is told so instead of being ignored.

use crate::error::{ApiError, ApiResult};
use crate::routes::params::{Kind, Param, Read};
use portcullis_domain::customers::Patch;
use portcullis_domain::metadata::MetadataUpdate;
use serde_json::{Map, Value};

/// Parameters at one level of nesting, with their wire path (`address[`).
#[derive(Debug, Default)]
pub struct Params {
    map: Map<String, Value>,
    /// The parent's path, e.g. `shipping[address]`; empty at the top.
    path: String,
    /// What the operation declares at this level; every read is checked
    /// against it. `None`: not declared (a free hash, or a route that
    /// declares nothing yet).
    declared: Option<&'static [Param]>,
}

/// The bounds of an integer range (`created[gt]`, …).
const RANGE_FIELDS: &[Param] = &[
    crate::routes::params::integer("gt"),
    crate::routes::params::integer("gte"),
    crate::routes::params::integer("lt"),
    crate::routes::params::integer("lte"),
];

/// Longest list a parameter may hold.
pub const LIST_LEN_MAX: usize = 100;

impl Params {
    pub fn new(map: Map<String, Value>) -> Self {
        Self {
            map,
            path: String::new(),
            declared: None,
        }
    }

    /// Parameters whose reads are checked against `declared`.
    pub fn declared(map: Map<String, Value>, declared: Option<&'static [Param]>) -> Self {
        Self {
            map,
            path: String::new(),
            declared,
        }
    }

    /// Checks a read of `name` against the declaration: a handler reading a
    /// parameter its route does not declare (or as another type) is a bug
    /// that would make `/openapi.json` lie; debug builds (every test) panic,
    /// release builds log it. Returns the declared parameter.
    fn check_read(&self, name: &str, read: Read) -> Option<&'static Param> {
        let declared = self.declared?;
        let found = declared.iter().find(|p| p.name == name);
        if found.is_some_and(|p| p.kind.admits(read)) {
            return found;
        }
        let problem =
            format!(
            "the handler reads the parameter {} ({read:?}), which its route does not declare {}; \
             add it to the route's .params(…)",
            self.name_of(name),
            if found.is_some() { "as that type" } else { "at all" },
        );
        if cfg!(debug_assertions) {
            panic!("{problem}");
        }
        tracing::error!("{problem}");
        found
    }

    /// These parameters as if they had come under `path` (`card`), so
    /// errors name them as the client knows them.
    pub fn at_path(mut self, path: &str) -> Self {
        self.path = path.to_owned();
        self
    }

    /// The wire name of `name` at this level: `address[city]`.
    pub fn name_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}[{name}]", self.path)
        }
    }

    /// This level's wire path, e.g. `payment_method_data[card]`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The canonical JSON of what remains, for request fingerprints.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(&self.canonical_value()).unwrap_or_default()
    }

    /// What remains, with every hash's keys sorted.
    pub fn canonical_value(&self) -> Value {
        sorted(&Value::Object(self.map.clone()))
    }

    /// True when `name` is present and is a hash (`name[key]=…`).
    pub fn holds_hash(&self, name: &str) -> bool {
        matches!(self.map.get(name), Some(Value::Object(_)))
    }

    fn take(&mut self, name: &str, read: Read) -> Option<Value> {
        self.check_read(name, read);
        self.map.remove(name)
    }

    /// The declaration of a nested hash's fields, if any.
    fn nested(&self, name: &str) -> Option<&'static [Param]> {
        let declared = self.declared?;
        match declared.iter().find(|p| p.name == name)?.kind {
            Kind::Object(fields) => Some(fields),
            Kind::IntegerRange => Some(RANGE_FIELDS),
            _ => None,
        }
    }

    /// Refuses whatever no accessor took.
    pub fn finish(self) -> ApiResult<()> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(name) => Err(ApiError::unknown_parameter(&self.name_of(name))),
        }
    }

    fn invalid(&self, name: &str, what: &str) -> ApiError {
        invalid_at(self.name_of(name), what)
    }

    /// A non-empty string; `None` when absent. An empty value is refused.
    pub fn string(&mut self, name: &str, chars_max: usize) -> ApiResult<Option<String>> {
        match self.patch_string(name, chars_max)? {
            Patch::Keep => Ok(None),
            Patch::Set(text) => Ok(Some(text)),
            Patch::Clear => Err(ApiError::invalid(
                "parameter_invalid_empty",
                format!("You passed an empty string for '{0}'. We assume empty values are an attempt to unset a parameter; however '{0}' cannot be unset.", self.name_of(name)),
                self.name_of(name),
            )),
        }
    }

    pub fn required_string(&mut self, name: &str, chars_max: usize) -> ApiResult<String> {
        self.string(name, chars_max)?
            .ok_or_else(|| ApiError::missing_parameter(&self.name_of(name)))
    }

    /// A string that may be unset with an empty value (or JSON `null`).
    pub fn patch_string(&mut self, name: &str, chars_max: usize) -> ApiResult<Patch<String>> {
        let text = match self.take(name, Read::String) {
            None => return Ok(Patch::Keep),
            Some(Value::Null) => return Ok(Patch::Clear),
            Some(Value::String(text)) => text,
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(_) => return Err(self.invalid(name, "string")),
        };
        if text.is_empty() {
            return Ok(Patch::Clear);
        }
        if text.chars().count() > chars_max {
            let param = self.name_of(name);
            return Err(ApiError::invalid(
                "parameter_invalid_string",
                format!("{param} must be at most {chars_max} characters."),
                param,
            ));
        }
        Ok(Patch::Set(text))
    }

    pub fn integer(&mut self, name: &str) -> ApiResult<Option<i64>> {
        let parsed = match self.take(name, Read::Integer) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(text)) => text.trim().parse::<i64>().ok(),
            Some(_) => None,
        };
        match parsed {
            Some(n) => Ok(Some(n)),
            None => {
                let param = self.name_of(name);
                Err(ApiError::invalid(
                    "parameter_invalid_integer",
                    format!("Invalid integer: {param}"),
                    param,
                ))
            }
        }
    }

    pub fn boolean(&mut self, name: &str) -> ApiResult<Option<bool>> {
        match self.take(name, Read::Boolean) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(Value::String(text)) if text == "true" => Ok(Some(true)),
            Some(Value::String(text)) if text == "false" => Ok(Some(false)),
            Some(_) => Err(self.invalid(name, "boolean (true or false)")),
        }
    }

    /// A nested hash (`address[city]=…`); empty value or `null` clears it.
    pub fn patch_object(&mut self, name: &str) -> ApiResult<Patch<Params>> {
        let path = self.name_of(name);
        let declared = self.nested(name);
        match self.take(name, Read::Object) {
            None => Ok(Patch::Keep),
            Some(Value::Null) => Ok(Patch::Clear),
            Some(Value::String(text)) if text.is_empty() => Ok(Patch::Clear),
            Some(Value::Object(map)) => Ok(Patch::Set(Params {
                map,
                path,
                declared,
            })),
            Some(_) => Err(ApiError::invalid(
                "parameter_invalid",
                format!("Invalid hash for {path}."),
                path,
            )),
        }
    }

    /// A nested hash that cannot be cleared.
    pub fn object(&mut self, name: &str) -> ApiResult<Option<Params>> {
        match self.patch_object(name)? {
            Patch::Keep => Ok(None),
            Patch::Set(params) => Ok(Some(params)),
            Patch::Clear => Err(self.invalid(name, "hash")),
        }
    }

    /// Takes every remaining parameter at this level as a non-empty
    /// string of at most `chars_max` characters, by name (for hashes whose
    /// keys the caller checks itself, like `credentials[…]`).
    pub fn take_all_strings(
        &mut self,
        chars_max: usize,
    ) -> ApiResult<std::collections::BTreeMap<String, String>> {
        let names: Vec<String> = self.map.keys().cloned().collect();
        let mut taken = std::collections::BTreeMap::new();
        for name in names {
            let value = self.string(&name, chars_max)?;
            taken.insert(name, value.unwrap_or_default());
        }
        Ok(taken)
    }

    /// A list of strings: a JSON array, or the form's `name[]`/`name[0]`
    /// keys. An empty value clears.
    pub fn patch_string_list(
        &mut self,
        name: &str,
        chars_max: usize,
    ) -> ApiResult<Patch<Vec<String>>> {
        let items = match self.take(name, Read::List) {
            None => return Ok(Patch::Keep),
            Some(Value::Null) => return Ok(Patch::Clear),
            Some(Value::String(text)) if text.is_empty() => return Ok(Patch::Clear),
            Some(value) => list_items(value).ok_or_else(|| self.invalid(name, "array"))?,
        };
        if items.len() > LIST_LEN_MAX {
            return Err(self.invalid(name, "array (too many items)"));
        }
        let mut list = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            match item {
                Value::String(text) if !text.is_empty() && text.chars().count() <= chars_max => {
                    list.push(text)
                }
                _ => return Err(invalid_at(format!("{}[{i}]", self.name_of(name)), "string")),
            }
        }
        Ok(Patch::Set(list))
    }

    /// A list of hashes (`line_items[0][quantity]=…`, or a JSON array of
    /// objects), each with its wire path (`line_items[0]`); `None` when
    /// absent. At most [`LIST_LEN_MAX`] items.
    pub fn object_list(&mut self, name: &str) -> ApiResult<Option<Vec<Params>>> {
        let declared = self.declared.and_then(|declared| {
            match declared.iter().find(|p| p.name == name)?.kind {
                Kind::ObjectList(fields) => Some(fields),
                _ => None,
            }
        });
        let Some(value) = self.take(name, Read::ObjectList) else {
            return Ok(None);
        };
        let items = list_items(value).ok_or_else(|| self.invalid(name, "array"))?;
        if items.len() > LIST_LEN_MAX {
            return Err(self.invalid(name, "array (too many items)"));
        }
        let base = self.name_of(name);
        let mut list = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            match item {
                Value::Object(map) => list.push(Params {
                    map,
                    path: format!("{base}[{i}]"),
                    declared,
                }),
                _ => return Err(invalid_at(format!("{base}[{i}]"), "hash")),
            }
        }
        Ok(Some(list))
    }

    /// `expand[]`: the paths to expand, validated by the caller.
    pub fn expand(&mut self) -> ApiResult<Vec<String>> {
        match self.patch_string_list("expand", 200)? {
            Patch::Set(paths) => Ok(paths),
            Patch::Keep | Patch::Clear => Ok(vec![]),
        }
    }

    /// `metadata[k]=v` sets, `metadata[k]=` unsets one, `metadata=` clears.
    pub fn metadata(&mut self) -> ApiResult<Option<MetadataUpdate>> {
        let changes = match self.take("metadata", Read::Metadata) {
            None => return Ok(None),
            Some(Value::Null) => return Ok(Some(MetadataUpdate::Clear)),
            Some(Value::String(text)) if text.is_empty() => return Ok(Some(MetadataUpdate::Clear)),
            Some(Value::Object(map)) => map,
            Some(_) => return Err(self.invalid("metadata", "hash")),
        };
        let mut update = Vec::with_capacity(changes.len());
        for (key, value) in changes {
            let value = match value {
                Value::Null => None,
                Value::String(text) if text.is_empty() => None,
                Value::String(text) => Some(text),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => {
                    return Err(invalid_at(
                        format!("{}[{key}]", self.name_of("metadata")),
                        "string",
                    ))
                }
            };
            update.push((key, value));
        }
        Ok(Some(MetadataUpdate::Change(update)))
    }
}

fn invalid_at(param: String, what: &str) -> ApiError {
    ApiError::invalid(
        "parameter_invalid",
        format!("Invalid {what} for {param}."),
        param,
    )
}

/// A list from a JSON array or from an object keyed `"0"`, `"1"`, … (the
/// form's indices), in index order.
fn list_items(value: Value) -> Option<Vec<Value>> {
    match value {
        Value::Array(items) => Some(items),
        Value::Object(map) => {
            let mut indexed = map
                .into_iter()
                .map(|(k, v)| k.parse::<usize>().ok().map(|i| (i, v)))
                .collect::<Option<Vec<_>>>()?;
            indexed.sort_by_key(|(i, _)| *i);
            Some(indexed.into_iter().map(|(_, v)| v).collect())
        }
        _ => None,
    }
}

/// Objects with sorted keys, so equal parameters serialise equally.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<_> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> Params {
        match value {
            Value::Object(map) => Params::new(map),
            _ => unreachable!(),
        }
    }

    #[test]
    #[should_panic(expected = "does not declare")]
    fn reading_an_undeclared_parameter_is_a_bug_a_test_catches() {
        const DECLARED: &[Param] = &[crate::routes::params::string("email", 10)];
        let mut p = Params::declared(Map::new(), Some(DECLARED));
        p.string("email", 10).unwrap();
        let _ = p.string("nmae", 10);
    }

    #[test]
    #[should_panic(expected = "as that type")]
    fn reading_a_declared_parameter_as_another_type_is_a_bug_too() {
        const DECLARED: &[Param] = &[crate::routes::params::integer("amount")];
        let mut p = Params::declared(Map::new(), Some(DECLARED));
        let _ = p.string("amount", 10);
    }

    #[test]
    fn nested_hashes_are_checked_against_their_fields() {
        const CARD: &[Param] = &[crate::routes::params::string("number", 30)];
        const DECLARED: &[Param] = &[crate::routes::params::object("card", CARD)];
        let mut p = Params::declared(
            json!({"card": {"number": "4242"}})
                .as_object()
                .unwrap()
                .clone(),
            Some(DECLARED),
        );
        let mut card = p.object("card").unwrap().unwrap();
        assert_eq!(card.string("number", 30).unwrap().as_deref(), Some("4242"));
        let caught = std::panic::catch_unwind(move || card.string("cvc", 4).map(drop));
        assert!(caught.is_err(), "an undeclared nested field must be caught");
    }

    #[test]
    fn unknown_nested_parameters_are_named() {
        let mut p = params(json!({"address": {"city": "x", "planet": "mars"}}));
        let mut address = p.object("address").unwrap().unwrap();
        address.string("city", 100).unwrap();
        let err = address.finish().unwrap_err();
        assert_eq!(err.param.as_deref(), Some("address[planet]"));
        assert_eq!(err.code, Some("parameter_unknown"));
    }

    #[test]
    fn integers_from_strings_and_numbers() {
        let mut p = params(json!({"a": "42", "b": 7, "c": "4.2"}));
        assert_eq!(p.integer("a").unwrap(), Some(42));
        assert_eq!(p.integer("b").unwrap(), Some(7));
        assert_eq!(
            p.integer("c").unwrap_err().code,
            Some("parameter_invalid_integer")
        );
    }

    #[test]
    fn lists_from_form_indices_or_json_arrays() {
        let mut p = params(json!({"expand": {"1": "b", "0": "a"}, "l": ["x"]}));
        assert_eq!(p.expand().unwrap(), vec!["a", "b"]);
        assert_eq!(
            p.patch_string_list("l", 10).unwrap(),
            Patch::Set(vec!["x".to_owned()])
        );
    }

    #[test]
    fn metadata_set_unset_clear() {
        let mut p = params(json!({"metadata": {"a": "1", "b": ""}}));
        assert_eq!(
            p.metadata().unwrap(),
            Some(MetadataUpdate::Change(vec![
                ("a".into(), Some("1".into())),
                ("b".into(), None)
            ]))
        );
        let mut p = params(json!({"metadata": ""}));
        assert_eq!(p.metadata().unwrap(), Some(MetadataUpdate::Clear));
    }

    #[test]
    fn canonical_json_ignores_key_order() {
        let a = params(json!({"b": "1", "a": {"y": "2", "x": "3"}}));
        let b = params(json!({"a": {"x": "3", "y": "2"}, "b": "1"}));
        assert_eq!(a.canonical_json(), b.canonical_json());
    }
}
