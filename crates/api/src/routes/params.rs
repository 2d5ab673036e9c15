//! What each operation accepts, declared beside its route: the names,
//! types, enums and nesting of its body (or query) parameters. The same
//! declarations render `/openapi.json`'s request bodies and query
//! parameters, and bind the handler: `wire::Params` checks every parameter
//! a handler reads against them (a debug build panics on an undeclared
//! one, so any test that reaches it fails; a release build logs an
//! error), so the document cannot drift from what the code reads.

use portcullis_domain::metadata::{
    METADATA_KEYS_MAX, METADATA_KEY_CHARS_MAX, METADATA_VALUE_CHARS_MAX,
};
use serde_json::{json, Value};

/// The type of one parameter, as it travels in a form body (bracket
/// notation) or a JSON body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A string of at most this many characters.
    String(usize),
    /// One of these strings.
    Enum(&'static [&'static str]),
    /// An integer (decimal string in forms).
    Integer,
    /// `true` or `false`.
    Boolean,
    /// `metadata[key]=value`: string values, an empty value unsets a key.
    Metadata,
    /// A list of strings: `name[]=a`, `name[0]=a`, or a JSON array.
    StringList,
    /// A nested hash with these parameters: `name[field]=…`.
    Object(&'static [Param]),
    /// A list of hashes with these parameters: `name[0][field]=…`, or a
    /// JSON array of objects (`line_items`).
    ObjectList(&'static [Param]),
    /// A hash whose keys the handler checks itself (`credentials[…]`).
    StringMap,
    /// An integer, or a hash of bounds `gt`, `gte`, `lt`, `lte` (`created`).
    IntegerRange,
}

/// One declared parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

impl Param {
    pub const fn new(name: &'static str, kind: Kind) -> Self {
        Param {
            name,
            kind,
            required: false,
        }
    }

    pub const fn required(self) -> Self {
        Param {
            required: true,
            ..self
        }
    }
}

/// Shorthands, so declarations read as a table.
pub const fn string(name: &'static str, chars_max: usize) -> Param {
    Param::new(name, Kind::String(chars_max))
}
pub const fn one_of(name: &'static str, values: &'static [&'static str]) -> Param {
    Param::new(name, Kind::Enum(values))
}
pub const fn integer(name: &'static str) -> Param {
    Param::new(name, Kind::Integer)
}
pub const fn boolean(name: &'static str) -> Param {
    Param::new(name, Kind::Boolean)
}
pub const fn list(name: &'static str) -> Param {
    Param::new(name, Kind::StringList)
}
pub const fn object(name: &'static str, fields: &'static [Param]) -> Param {
    Param::new(name, Kind::Object(fields))
}
pub const fn object_list(name: &'static str, fields: &'static [Param]) -> Param {
    Param::new(name, Kind::ObjectList(fields))
}
pub const METADATA: Param = Param::new("metadata", Kind::Metadata);
pub const EXPAND: Param = Param::new("expand", Kind::StringList);

/// A list's parameters: its own filters, then `limit`, `starting_after`,
/// `ending_before` and `created[…]` (`lists::limit`, `cursor`, `created`),
/// and `expand[]` when the list begins with `expand;`.
macro_rules! list_params {
    (expand; $($filter:expr),* $(,)?) => {
        &[
            $($filter,)*
            $crate::routes::params::integer("limit"),
            $crate::routes::params::string("starting_after", 255),
            $crate::routes::params::string("ending_before", 255),
            $crate::routes::params::Param::new("created", $crate::routes::params::Kind::IntegerRange),
            $crate::routes::params::EXPAND,
        ]
    };
    ($($filter:expr),* $(,)?) => {
        &[
            $($filter,)*
            $crate::routes::params::integer("limit"),
            $crate::routes::params::string("starting_after", 255),
            $crate::routes::params::string("ending_before", 255),
            $crate::routes::params::Param::new("created", $crate::routes::params::Kind::IntegerRange),
        ]
    };
}
pub(crate) use list_params;
/// What every search accepts.
pub const SEARCH: &[Param] = &[
    string("query", 1000).required(),
    integer("limit"),
    string("page", 1000),
    EXPAND,
];
/// Only `expand[]` (retrieve, and actions without parameters).
pub const EXPAND_ONLY: &[Param] = &[EXPAND];
/// Nothing at all.
pub const NONE: &[Param] = &[];

/// Which accessor read a parameter, to check it against the declared kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    String,
    Integer,
    Boolean,
    Object,
    List,
    Metadata,
    ObjectList,
}

impl Kind {
    /// True when an accessor of `read` may read a parameter of this kind.
    pub fn admits(self, read: Read) -> bool {
        matches!(
            (self, read),
            (Kind::String(_) | Kind::Enum(_), Read::String)
                | (Kind::Integer | Kind::IntegerRange, Read::Integer)
                | (Kind::Boolean, Read::Boolean)
                | (
                    Kind::Object(_) | Kind::StringMap | Kind::IntegerRange,
                    Read::Object
                )
                | (Kind::StringList, Read::List)
                | (Kind::Metadata, Read::Metadata)
                | (Kind::ObjectList(_), Read::ObjectList)
        )
    }

    /// The JSON Schema of this kind: what the server accepts, no more and
    /// no less. Form bodies carry only strings, so the JSON side takes what
    /// a form would say too: a number or boolean where a string is read
    /// (`"6735"` and `6735` alike), digits for an integer, `"true"` for a
    /// boolean; an empty value or `null` unsets (`description=`,
    /// `metadata=`), which an update takes and a create refuses.
    pub fn schema(self) -> Value {
        match self {
            Kind::String(chars_max) => json!({
                "type": ["string", "number", "boolean", "null"],
                "maxLength": chars_max,
            }),
            Kind::Enum(values) => json!({ "type": "string", "enum": values }),
            Kind::Integer => integer_schema(),
            Kind::Boolean => json!({
                "anyOf": [{ "type": "boolean" }, { "type": "string", "enum": ["true", "false"] }],
            }),
            Kind::Metadata => unsettable(json!({
                "type": "object",
                "maxProperties": METADATA_KEYS_MAX,
                "propertyNames": { "maxLength": METADATA_KEY_CHARS_MAX },
                "additionalProperties": {
                    "type": ["string", "number", "boolean", "null"],
                    "maxLength": METADATA_VALUE_CHARS_MAX,
                },
            })),
            Kind::StringList => unsettable(json!({
                "type": "array",
                "items": { "type": "string", "minLength": 1 },
                "maxItems": 100,
            })),
            Kind::Object(fields) => unsettable(object_schema(fields)),
            Kind::ObjectList(fields) => json!({
                "type": "array",
                "items": object_schema(fields),
                "maxItems": 100,
            }),
            Kind::StringMap => unsettable(json!({
                "type": "object",
                "additionalProperties": { "type": ["string", "number", "boolean"] },
            })),
            Kind::IntegerRange => json!({
                "anyOf": [
                    integer_schema(),
                    {
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {
                            "gt": integer_schema(), "gte": integer_schema(),
                            "lt": integer_schema(), "lte": integer_schema(),
                        },
                    },
                ],
            }),
        }
    }

    /// True for kinds sent as `name[…]` in a form or query string.
    pub fn is_nested(self) -> bool {
        matches!(
            self,
            Kind::Metadata
                | Kind::Object(_)
                | Kind::ObjectList(_)
                | Kind::StringMap
                | Kind::IntegerRange
        )
    }
}

/// An integer, as JSON or as the decimal digits a form sends.
fn integer_schema() -> Value {
    json!({
        "anyOf": [{ "type": "integer" }, { "type": "string", "pattern": "^\\s*[+-]?[0-9]+\\s*$" }],
    })
}

/// A hash or list that an empty value or `null` unsets.
fn unsettable(schema: Value) -> Value {
    json!({ "anyOf": [schema, { "enum": ["", null] }] })
}

/// The schema of a hash with exactly these parameters.
pub fn object_schema(params: &[Param]) -> Value {
    let properties: serde_json::Map<String, Value> = params
        .iter()
        .map(|p| (p.name.to_owned(), p.kind.schema()))
        .collect();
    let required: Vec<&str> = params
        .iter()
        .filter(|p| p.required)
        .map(|p| p.name)
        .collect();
    let mut schema = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
    });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_admit_only_their_accessors() {
        assert!(Kind::String(5).admits(Read::String));
        assert!(!Kind::String(5).admits(Read::Integer));
        assert!(Kind::IntegerRange.admits(Read::Object));
        assert!(Kind::IntegerRange.admits(Read::Integer));
        assert!(!Kind::Metadata.admits(Read::Object));
    }

    #[test]
    fn object_schemas_name_required_fields_and_refuse_others() {
        let schema = object_schema(&[string("a", 3).required(), integer("b")]);
        assert_eq!(schema["required"], json!(["a"]));
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(schema["properties"]["b"]["anyOf"][0]["type"], "integer");
    }
}
