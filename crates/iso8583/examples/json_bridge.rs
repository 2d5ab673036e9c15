//! A bridge for interoperability tests (`tests/iso8583/interop.py`): reads
//! one JSON request per line on stdin and answers one JSON line on stdout.
//!
//! - `{"op": "encode", "profile": "default", "fields": {"t": "0100", "2": "…", "52": "0102…"}}`
//!   answers `{"hex": "…"}` (binary fields are given as hex, as pyiso8583's
//!   decoded documents give them);
//! - `{"op": "decode", "profile": "default", "hex": "…"}` answers
//!   `{"fields": {"t": "0100", "2": "…"}}`;
//! - an error answers `{"error": "…"}`.

use portcullis_iso8583::spec::{self, Content};
use portcullis_iso8583::{decode, encode, Message, Mti, Profile};
use serde_json::{json, Map, Value};
use std::io::{BufRead, Write};

fn encode_request(profile: Profile, fields: &Map<String, Value>) -> Result<Value, String> {
    let mti = fields.get("t").and_then(Value::as_str).ok_or("no \"t\"")?;
    let mut message = Message::new(Mti::parse(mti).map_err(|e| e.to_string())?);
    for (name, value) in fields {
        let Ok(number) = name.parse::<u8>() else {
            continue; // "t", "p", "1": the MTI and the derived bitmaps
        };
        if number == 1 {
            continue;
        }
        let text = value.as_str().ok_or("field values are strings")?;
        let binary = spec::spec(number).map(|s| s.content) == Some(Content::Binary);
        let content = if binary {
            hex::decode(text).map_err(|e| e.to_string())?
        } else {
            text.as_bytes().to_vec()
        };
        message.set(number, content).map_err(|e| e.to_string())?;
    }
    Ok(json!({ "hex": hex::encode_upper(encode(&message, profile)) }))
}

fn decode_request(profile: Profile, text: &str) -> Result<Value, String> {
    let bytes = hex::decode(text).map_err(|e| e.to_string())?;
    let message = decode(&bytes, profile).map_err(|e| e.to_string())?;
    let mut fields = Map::new();
    fields.insert("t".into(), json!(message.mti().as_str()));
    for (number, value) in message.fields() {
        let binary = spec::spec(number).map(|s| s.content) == Some(Content::Binary);
        let shown = if binary {
            hex::encode_upper(value)
        } else {
            String::from_utf8_lossy(value).into_owned()
        };
        fields.insert(number.to_string(), json!(shown));
    }
    Ok(json!({ "fields": fields }))
}

fn answer(line: &str) -> Result<Value, String> {
    let request: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let profile = request
        .get("profile")
        .and_then(Value::as_str)
        .and_then(Profile::parse)
        .ok_or("profile is default or default_ascii")?;
    match request.get("op").and_then(Value::as_str) {
        Some("encode") => encode_request(
            profile,
            request
                .get("fields")
                .and_then(Value::as_object)
                .ok_or("no fields")?,
        ),
        Some("decode") => decode_request(
            profile,
            request.get("hex").and_then(Value::as_str).ok_or("no hex")?,
        ),
        _ => Err("op is encode or decode".into()),
    }
}

fn main() {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let reply = answer(&line).unwrap_or_else(|error| json!({ "error": error }));
        if writeln!(stdout, "{reply}")
            .and_then(|_| stdout.flush())
            .is_err()
        {
            break;
        }
    }
}
