//! WeChat Pay API v2, used only for payment codes (`/pay/micropay`, with
//! `/pay/orderquery` and `/secapi/pay/reverse`): flat XML documents
//! (`<xml><k>v</k>…</xml>`) signed with HMAC-SHA256 under the API v2 key:
//! `sign = HEX_UPPER(HMAC-SHA256(key, "k1=v1&k2=v2…&key=KEY"))` over the
//! non-empty parameters but `sign`, sorted by name, with `sign_type=HMAC-SHA256`.

use crate::WalletError;
use hmac::{Hmac, Mac};
use quick_xml::events::Event;
use sha2::Sha256;
use std::collections::BTreeMap;

pub const MICROPAY_PATH: &str = "/pay/micropay";
pub const ORDERQUERY_PATH: &str = "/pay/orderquery";
pub const REVERSE_PATH: &str = "/secapi/pay/reverse";
/// Most elements a document may hold.
const FIELDS_MAX: usize = 128;

/// The v2 signature of `params`.
pub fn sign(api_v2_key: &str, params: &BTreeMap<String, String>) -> String {
    let mut content: String = params
        .iter()
        .filter(|(k, v)| !v.is_empty() && k.as_str() != "sign")
        .map(|(k, v)| format!("{k}={v}&"))
        .collect();
    content.push_str("key=");
    content.push_str(api_v2_key);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(api_v2_key.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(content.as_bytes());
    hex::encode_upper(mac.finalize().into_bytes())
}

/// `params` with `sign_type` and `sign` added.
pub fn signed(api_v2_key: &str, mut params: BTreeMap<String, String>) -> BTreeMap<String, String> {
    params.insert("sign_type".to_owned(), "HMAC-SHA256".to_owned());
    let signature = sign(api_v2_key, &params);
    params.insert("sign".to_owned(), signature);
    params
}

/// Checks the `sign` of a document (constant time).
pub fn verify(api_v2_key: &str, params: &BTreeMap<String, String>) -> Result<(), WalletError> {
    let given = params.get("sign").ok_or(WalletError::BadSignature)?;
    let expected = sign(api_v2_key, params);
    let same = given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    same.then_some(()).ok_or(WalletError::BadSignature)
}

/// `params` as `<xml>…</xml>`, values escaped.
pub fn to_xml(params: &BTreeMap<String, String>) -> String {
    let mut xml = String::from("<xml>");
    for (k, v) in params {
        xml.push_str(&format!(
            "<{k}>{}</{k}>",
            quick_xml::escape::escape(v.as_str())
        ));
    }
    xml.push_str("</xml>");
    xml
}

/// The elements of a flat `<xml>` document (text or CDATA values).
pub fn from_xml(xml: &str) -> Result<BTreeMap<String, String>, WalletError> {
    let malformed = |what: &str| WalletError::Malformed(format!("XML: {what}"));
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut params = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut depth = 0;
    loop {
        match reader
            .read_event()
            .map_err(|_| malformed("not well-formed"))?
        {
            Event::Start(start) => {
                depth += 1;
                let name = String::from_utf8(start.name().as_ref().to_vec())
                    .map_err(|_| malformed("element name"))?;
                match depth {
                    1 if name == "xml" => {}
                    2 => current = Some(name),
                    _ => return Err(malformed("not a flat <xml> document")),
                }
            }
            Event::Text(text) if depth == 2 => {
                let value = text.decode().map_err(|_| malformed("text"))?;
                push_value(&mut params, &current, &value)?;
            }
            // `&amp;`, `&#38;`: reported apart from the text around them.
            Event::GeneralRef(reference) if depth == 2 => {
                let value = entity_text(&reference).ok_or_else(|| malformed("entity"))?;
                push_value(&mut params, &current, &value)?;
            }
            Event::CData(data) if depth == 2 => {
                let value = String::from_utf8(data.into_inner().to_vec())
                    .map_err(|_| malformed("CDATA"))?;
                push_value(&mut params, &current, &value)?;
            }
            Event::End(_) => {
                if depth == 2 {
                    if let Some(name) = current.take() {
                        params.entry(name).or_default();
                    }
                }
                depth -= 1;
            }
            Event::Eof => break,
            _ => {}
        }
        if params.len() > FIELDS_MAX {
            return Err(malformed("too many elements"));
        }
    }
    Ok(params)
}

/// The text an entity or character reference stands for; `None` for an
/// unknown entity or an invalid character.
fn entity_text(reference: &quick_xml::events::BytesRef<'_>) -> Option<String> {
    if let Some(character) = reference.resolve_char_ref().ok()? {
        return Some(character.to_string());
    }
    let name = reference.decode().ok()?;
    quick_xml::escape::resolve_predefined_entity(&name).map(str::to_owned)
}

fn push_value(
    params: &mut BTreeMap<String, String>,
    current: &Option<String>,
    value: &str,
) -> Result<(), WalletError> {
    let name = current
        .as_ref()
        .ok_or_else(|| WalletError::Malformed("XML: text outside an element".into()))?;
    params.entry(name.clone()).or_default().push_str(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn entity_and_character_references_are_part_of_the_value() {
        let parsed =
            from_xml("<xml><body>a&amp;b&#38;c&lt;</body><x><![CDATA[<q>]]></x></xml>").unwrap();
        assert_eq!(parsed["body"], "a&b&c<");
        assert_eq!(parsed["x"], "<q>");
        assert!(from_xml("<xml><body>&nosuch;</body></xml>").is_err());
    }

    #[test]
    fn documents_round_trip_and_verify() {
        let key = "192006250b4c09247ec02edce69f6a2d";
        let doc = signed(
            key,
            params(&[
                ("appid", "wx1"),
                ("total_fee", "1"),
                ("body", "a<b&c"),
                ("auth_code", "134567890123456789"),
            ]),
        );
        let xml = to_xml(&doc);
        let back = from_xml(&xml).unwrap();
        assert_eq!(back, doc);
        verify(key, &back).unwrap();
        let mut changed = back.clone();
        changed.insert("total_fee".into(), "100".into());
        assert_eq!(verify(key, &changed), Err(WalletError::BadSignature));
        assert_eq!(verify("another key", &back), Err(WalletError::BadSignature));
    }

    #[test]
    fn cdata_documents_read_like_wechat_pay_sends_them() {
        let xml = "<xml><return_code><![CDATA[SUCCESS]]></return_code><err_code><![CDATA[USERPAYING]]></err_code><total_fee>1</total_fee></xml>";
        let doc = from_xml(xml).unwrap();
        assert_eq!(doc["return_code"], "SUCCESS");
        assert_eq!(doc["err_code"], "USERPAYING");
        assert_eq!(doc["total_fee"], "1");
        assert!(from_xml("<xml><a><b>1</b></a></xml>").is_err());
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_sorted_string_with_the_key() {
        // HMAC-SHA256 computed independently: key "k", message "a=1&b=2&key=k".
        let doc = params(&[("b", "2"), ("a", "1"), ("empty", "")]);
        assert_eq!(
            sign("k", &doc),
            "196937ABF201954EED0C61E7A226FB7DD5670AEF413E3F8E73373120F1DFE454"
        );
    }
}
