//! `GET /openapi.json`: an OpenAPI 3.1 description of this API, generated
//! from the route registry (so every route is documented and every
//! documented path is routed) and from the objects' own render functions
//! (each object's schema lists exactly the fields the code renders).

use crate::routes::params::{self, Kind, Param};
use crate::routes::PAGE_JSON;
use crate::routes::{Auth, Operation};
use serde_json::{json, Map, Value};

/// The document for `operations`.
pub fn document(operations: &[Operation]) -> Value {
    let mut schemas = schemas();
    let api_objects = operations.iter().filter_map(|op| op.answers);
    for object in api_objects.filter(|object| *object != PAGE_JSON) {
        // Objects without a rendered sample yet are described only as
        // objects with an `object` field. Its value is not pinned to the
        // schema's name: the code may render another (`risk.rule_dry_run`
        // for `risk_rule_dry_run`), and only a sample would tell.
        schemas.entry(object.to_owned()).or_insert_with(|| {
            json!({ "type": "object", "required": ["object"], "properties": { "object": { "type": "string" } } })
        });
    }
    let mut paths = Map::new();
    for op in operations {
        let entry = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        entry[op.method] = operation(op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Portcullis API",
            "version": crate::events::API_VERSION,
            "description": "A Stripe-compatible payment gateway. Request bodies are form-encoded with bracket notation (or JSON); errors use Stripe's error object.",
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearerAuth": [] }, { "basicAuth": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": { "type": "http", "scheme": "bearer" },
                "basicAuth": { "type": "http", "scheme": "basic", "description": "The API key as the user name, empty password." },
            },
            "schemas": schemas,
        },
    })
}

fn operation(op: &Operation) -> Value {
    let parameters: Vec<Value> = op
        .path
        .split('/')
        .filter_map(|part| part.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string", "maxLength": 255 } }))
        .collect();
    let success = match op.answers {
        Some(PAGE_JSON) => json!({
            "description": "The page's own answer to its script",
            "content": { "application/json": { "schema": { "type": "object" } } },
        }),
        Some(object) => json!({
            "description": "Success",
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{object}") } } },
        }),
        None => {
            let mut content = Map::new();
            content.insert(
                page_media_type(op.path).into(),
                json!({ "schema": { "type": "string" } }),
            );
            json!({ "description": "A hosted page, one of its files, or a redirect", "content": content })
        }
    };
    let error = match op.answers {
        Some(object) if object != PAGE_JSON => json!({
            "description": "An error in Stripe's format",
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/error" } } },
        }),
        // Hosted pages answer their errors as pages; the wallets'
        // notification receivers in the provider's own format.
        _ => json!({
            "description": "An error page, or an answer in the caller's protocol",
            "content": {
                "text/html": { "schema": { "type": "string" } },
                "text/plain": { "schema": { "type": "string" } },
                "application/json": { "schema": {} },
            },
        }),
    };
    let mut value = json!({
        "summary": op.summary,
        "operationId": operation_id(op),
        "parameters": parameters,
        "responses": { "200": success, "default": error },
    });
    let declared = op.params.unwrap_or_default();
    if op.method == "post" {
        value["requestBody"] = request_body(declared);
    } else {
        let query = declared.iter().map(query_parameter);
        value["parameters"] = Value::Array(parameters.into_iter().chain(query).collect());
    }
    if op.auth == Auth::Public {
        value["security"] = json!([]);
    }
    value
}

/// What a hosted route without a JSON answer serves, by its path's
/// extension: a page, or one of the pages' script and style files. (The
/// QR images stay documented as pages: generated clients such as
/// openapi-python-client refuse `image/*` answers.)
fn page_media_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        _ => "text/html",
    }
}

/// A POST's body: form-encoded with bracket notation (nested hashes and
/// lists as `deepObject`), or JSON of the same structure.
fn request_body(declared: &[Param]) -> Value {
    let schema = params::object_schema(declared);
    let encoding: Map<String, Value> = declared
        .iter()
        .filter(|p| p.kind.is_nested() || p.kind == Kind::StringList)
        .map(|p| {
            (
                p.name.to_owned(),
                json!({ "style": "deepObject", "explode": true }),
            )
        })
        .collect();
    json!({
        // The body itself may be absent (an empty form); the fields it
        // needs are `required` in its schema. (Marking the body required
        // also trips openapi-python-client 0.29 on bodies with two
        // content types.)
        "required": false,
        "content": {
            "application/x-www-form-urlencoded": { "schema": schema, "encoding": encoding },
            "application/json": { "schema": schema },
        },
    })
}

/// A GET's or DELETE's query parameter; hashes as `name[key]=…`.
fn query_parameter(param: &Param) -> Value {
    let mut value = json!({
        "name": param.name,
        "in": "query",
        "required": param.required,
        "schema": param.kind.schema(),
    });
    if param.kind.is_nested() || param.kind == Kind::StringList {
        value["style"] = json!("deepObject");
        value["explode"] = json!(true);
    }
    value
}

fn operation_id(op: &Operation) -> String {
    let path: String = op
        .path
        .split('/')
        .filter(|part| !part.is_empty() && *part != "v1")
        .map(|part| if part.starts_with('{') { "by_id" } else { part })
        .collect::<Vec<_>>()
        .join("_");
    format!("{}_{path}", op.method)
}

/// A JSON schema for `sample`: every field it has is required; a field
/// that is null in the sample may be anything (or null).
fn infer(sample: &Value) -> Value {
    match sample {
        // An empty sample map (metadata, outcome signals) is free-form.
        Value::Object(fields) if fields.is_empty() => json!({ "type": "object" }),
        Value::Object(fields) => {
            let properties: Map<String, Value> =
                fields.iter().map(|(k, v)| (k.clone(), infer(v))).collect();
            let required: Vec<&String> = fields.keys().collect();
            json!({ "type": "object", "properties": properties, "required": required })
        }
        Value::Array(_) => json!({ "type": "array", "items": {} }),
        Value::String(_) => json!({ "type": ["string", "null"] }),
        Value::Number(_) => json!({ "type": ["integer", "null"] }),
        Value::Bool(_) => json!({ "type": ["boolean", "null"] }),
        Value::Null => json!({}),
    }
}

fn schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    for (name, sample) in crate::samples::objects() {
        let mut schema = infer(&sample);
        // The `object` the code renders, which is not always the schema's
        // name: a deleted customer is still `"object": "customer"` (as in
        // Stripe), only with `deleted: true`.
        let object = sample.get("object").cloned().unwrap_or_else(|| json!(name));
        schema["properties"]["object"] = json!({ "const": object });
        schema["properties"]["id"] = json!({ "type": "string" });
        if name == "event" {
            // Any object's snapshot, and its previous attributes on updates.
            schema["properties"]["data"] = json!({ "type": "object", "required": ["object"], "properties": {
                "object": { "type": "object" }, "previous_attributes": { "type": "object" } } });
        }
        schemas.insert(name.to_owned(), schema);
    }
    schemas.insert(
        "list".into(),
        json!({ "type": "object", "required": ["object", "data", "has_more", "url"], "properties": {
            "object": { "const": "list" }, "data": { "type": "array", "items": {} }, "has_more": { "type": "boolean" }, "url": { "type": "string" } } }),
    );
    schemas.insert(
        "search_result".into(),
        json!({ "type": "object", "required": ["object", "data", "has_more", "url", "next_page"], "properties": {
            "object": { "const": "search_result" }, "data": { "type": "array", "items": {} }, "has_more": { "type": "boolean" },
            "url": { "type": "string" }, "next_page": { "type": ["string", "null"] } } }),
    );
    schemas.insert(
        "error".into(),
        json!({ "type": "object", "required": ["error"], "properties": { "error": {
            "type": "object", "required": ["type", "message"], "properties": {
                "type": { "enum": ["api_error", "card_error", "idempotency_error", "invalid_request_error"] },
                "code": { "type": "string" }, "decline_code": { "type": ["string", "null"] },
                "message": { "type": "string" }, "param": { "type": "string" } } } } }),
    );
    schemas.insert(
        "customer_or_deleted".into(),
        json!({ "anyOf": [{ "$ref": "#/components/schemas/customer" }, { "$ref": "#/components/schemas/deleted_customer" }] }),
    );
    if let Some(method) = schemas.get_mut("payment_method") {
        // One of `card`, `alipay`, `wechat_pay`, as its `type` says.
        if let Some(required) = method["required"].as_array_mut() {
            required.retain(|field| field != "card");
        }
        for wallet in ["alipay", "wechat_pay"] {
            method["properties"][wallet] = json!({ "type": "object" });
        }
    }
    schemas.insert("health".into(), json!({ "type": "object", "required": ["status"], "properties": { "status": { "type": "string" } } }));
    schemas.insert(
        "openapi".into(),
        json!({ "type": "object", "required": ["openapi", "paths"] }),
    );
    schemas
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn served() -> (Vec<crate::routes::Operation>, Value) {
        let (_, operations) = crate::registry().into_parts();
        let document = super::document(&operations);
        (operations, document)
    }

    #[test]
    fn every_operation_declares_the_parameters_it_accepts() {
        let (operations, _) = served();
        let undeclared: Vec<String> = operations
            .iter()
            .filter(|op| op.params.is_none())
            .map(|op| format!("{} {}", op.method, op.path))
            .collect();
        assert!(
            undeclared.is_empty(),
            "declare what these accept with .params(…): {undeclared:?}"
        );
    }

    #[test]
    fn bodies_and_queries_are_described_with_types_enums_and_nesting() {
        let (_, document) = served();
        let create = &document["paths"]["/v1/payment_intents"]["post"]["requestBody"];
        let form = &create["content"]["application/x-www-form-urlencoded"];
        let schema = &form["schema"];
        assert_eq!(
            schema["properties"]["amount"]["anyOf"][0]["type"],
            "integer"
        );
        assert_eq!(
            schema["required"],
            serde_json::json!(["amount", "currency"])
        );
        assert_eq!(
            schema["properties"]["capture_method"]["enum"],
            serde_json::json!(["automatic", "automatic_async", "manual"])
        );
        let data = &schema["properties"]["payment_method_data"]["anyOf"][0];
        let card = &data["properties"]["card"]["anyOf"][0];
        // The plain fields, or `encrypted` (a JWE of them) alone: none of
        // them is required on its own.
        assert_eq!(card["required"], serde_json::Value::Null);
        assert_eq!(card["properties"]["number"]["maxLength"], 30);
        assert!(card["properties"]["encrypted"].is_object());
        assert_eq!(
            schema["properties"]["metadata"]["anyOf"][0]["type"],
            "object"
        );
        assert_eq!(schema["properties"]["expand"]["anyOf"][0]["type"], "array");
        assert_eq!(
            form["encoding"]["payment_method_data"]["style"],
            "deepObject"
        );
        assert_eq!(create["content"]["application/json"]["schema"], *schema);

        let list = &document["paths"]["/v1/customers"]["get"]["parameters"];
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for name in [
            "email",
            "limit",
            "starting_after",
            "ending_before",
            "created",
            "expand",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
    }
}
