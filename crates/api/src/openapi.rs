//! `GET /openapi.json`: an OpenAPI 3.1 description of this API, generated
//! from the route registry (so every route is documented and every
//! documented path is routed) and from the objects' own render functions
//! (each object's schema lists exactly the fields the code renders).

use crate::routes::{Auth, Operation};
use serde_json::{json, Map, Value};

/// The document for `operations`.
pub fn document(operations: &[Operation]) -> Value {
    let mut schemas = schemas();
    for object in operations.iter().filter_map(|op| op.answers) {
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
        Some(object) => json!({
            "description": "Success",
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{object}") } } },
        }),
        None => {
            json!({ "description": "An HTML page or a redirect", "content": { "text/html": { "schema": { "type": "string" } } } })
        }
    };
    let error = json!({
        "description": "An error in Stripe's format",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/error" } } },
    });
    let mut value = json!({
        "summary": op.summary,
        "operationId": operation_id(op),
        "parameters": parameters,
        "responses": { "200": success, "default": error },
    });
    if op.method == "post" {
        value["requestBody"] = json!({
            "required": false,
            "content": {
                "application/x-www-form-urlencoded": { "schema": { "type": "object" } },
                "application/json": { "schema": { "type": "object" } },
            },
        });
    }
    if op.auth == Auth::Public {
        value["security"] = json!([]);
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
        Value::Array(_) => json!({ "type": "array" }),
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
            "object": { "const": "list" }, "data": { "type": "array" }, "has_more": { "type": "boolean" }, "url": { "type": "string" } } }),
    );
    schemas.insert(
        "search_result".into(),
        json!({ "type": "object", "required": ["object", "data", "has_more", "url", "next_page"], "properties": {
            "object": { "const": "search_result" }, "data": { "type": "array" }, "has_more": { "type": "boolean" },
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
    schemas.insert("health".into(), json!({ "type": "object", "required": ["status"], "properties": { "status": { "type": "string" } } }));
    schemas.insert(
        "openapi".into(),
        json!({ "type": "object", "required": ["openapi", "paths"] }),
    );
    schemas
}
