//! `POST /v1/checkout/sessions`: its parameters, read into a
//! [`CheckoutRequest`]. Only what the domain can honour is accepted;
//! anything else is `parameter_unknown` (or, for Stripe's other modes and
//! not-yet-offered methods, a clear `parameter_invalid`).

use crate::error::{ApiError, ApiResult};
use crate::routes::params::{self as p, Param};
use crate::wire::Params;
use portcullis_domain::checkout::{
    CheckoutError, CheckoutMethod, CheckoutRequest, LineItemRequest, Payer, LOCALES,
    NAME_CHARS_MAX, URL_CHARS_MAX,
};
use portcullis_domain::customers::{Email, Patch};
use portcullis_domain::ids::CustomerId;
use portcullis_domain::metadata::Metadata;
use portcullis_domain::money::Currency;

const DESCRIPTION_CHARS_MAX: usize = 500;
const CLIENT_REFERENCE_CHARS_MAX: usize = 200;

const PRODUCT_DATA: &[Param] = &[
    p::string("name", NAME_CHARS_MAX).required(),
    p::string("description", DESCRIPTION_CHARS_MAX),
];
const PRICE_DATA: &[Param] = &[
    p::string("currency", 3).required(),
    p::integer("unit_amount").required(),
    p::object("product_data", PRODUCT_DATA).required(),
];
const LINE_ITEM: &[Param] = &[
    p::string("price", 255),
    p::object("price_data", PRICE_DATA),
    p::integer("quantity").required(),
];
/// What `POST /v1/checkout/sessions` accepts.
pub(super) const CREATE: &[Param] = &[
    p::string("mode", 20).required(),
    p::object_list("line_items", LINE_ITEM).required(),
    p::string("success_url", URL_CHARS_MAX).required(),
    p::string("cancel_url", URL_CHARS_MAX),
    p::string("customer", 255),
    p::string("customer_email", 512),
    p::string("client_reference_id", CLIENT_REFERENCE_CHARS_MAX),
    p::list("payment_method_types"),
    p::string("locale", 10),
    p::integer("expires_at"),
    p::METADATA,
    p::EXPAND,
];

/// Reads every create parameter except `expand[]`.
pub fn checkout_request(params: &mut Params) -> ApiResult<CheckoutRequest> {
    check_mode(params)?;
    let line_items = match params.object_list("line_items")? {
        Some(items) => items
            .into_iter()
            .map(line_item)
            .collect::<ApiResult<Vec<_>>>()?,
        None => return Err(ApiError::missing_parameter("line_items")),
    };
    let success_url = params.required_string("success_url", URL_CHARS_MAX)?;
    let cancel_url = params.string("cancel_url", URL_CHARS_MAX)?;
    let payer = payer(params)?;
    let client_reference_id = params.string("client_reference_id", CLIENT_REFERENCE_CHARS_MAX)?;
    let methods = methods(params)?;
    let locale = locale(params)?;
    let expires_at = params.integer("expires_at")?;
    let metadata = match params.metadata()? {
        Some(update) => Metadata::default()
            .updated(&update)
            .map_err(|err| ApiError::invalid("parameter_invalid", err.to_string(), err.param()))?,
        None => Metadata::default(),
    };
    Ok(CheckoutRequest {
        line_items,
        success_url,
        cancel_url,
        payer,
        client_reference_id,
        methods,
        locale,
        expires_at,
        metadata,
    })
}

/// `mode`: required by Stripe; only `payment` is offered here.
fn check_mode(params: &mut Params) -> ApiResult<()> {
    match params.required_string("mode", 20)?.as_str() {
        "payment" => Ok(()),
        "setup" | "subscription" => Err(ApiError::invalid(
            "parameter_invalid",
            "Only mode=payment Checkout Sessions are supported.",
            "mode",
        )),
        _ => Err(ApiError::invalid(
            "parameter_invalid",
            "Invalid mode: must be one of payment, setup or subscription.",
            "mode",
        )),
    }
}

/// `line_items[i][price_data][currency|unit_amount|product_data][name]]`
/// and `line_items[i][quantity]`.
fn line_item(mut item: Params) -> ApiResult<LineItemRequest> {
    if item.string("price", 255)?.is_some() {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "Prices are not stored objects here: describe the item with price_data.",
            item.name_of("price"),
        ));
    }
    let mut price = item
        .object("price_data")?
        .ok_or_else(|| ApiError::missing_parameter(&item.name_of("price_data")))?;
    let currency_text = price.required_string("currency", 3)?;
    let currency = Currency::parse(&currency_text)
        .map_err(|err| ApiError::invalid(err.code(), err.to_string(), price.name_of("currency")))?;
    let unit_amount_minor = price
        .integer("unit_amount")?
        .ok_or_else(|| ApiError::missing_parameter(&price.name_of("unit_amount")))?;
    let mut product = price
        .object("product_data")?
        .ok_or_else(|| ApiError::missing_parameter(&price.name_of("product_data")))?;
    let name = product.required_string("name", NAME_CHARS_MAX)?;
    let description = product.string("description", DESCRIPTION_CHARS_MAX)?;
    product.finish()?;
    price.finish()?;
    let quantity = item
        .integer("quantity")?
        .ok_or_else(|| ApiError::missing_parameter(&item.name_of("quantity")))?;
    item.finish()?;
    Ok(LineItemRequest {
        name,
        description,
        currency,
        unit_amount_minor,
        quantity,
    })
}

/// `customer` or `customer_email`, not both.
fn payer(params: &mut Params) -> ApiResult<Payer> {
    let customer = params.string("customer", 255)?;
    let email = params.string("customer_email", 512)?;
    match (customer, email) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "parameter_invalid",
            "You may only specify one of these parameters: customer, customer_email.",
            "customer_email",
        )),
        (Some(id), None) => match CustomerId::parse(&id) {
            Some(id) => Ok(Payer::Customer(id.to_string())),
            None => Err(ApiError::no_such("customer", &id, "customer")),
        },
        (None, Some(email)) => Email::parse(&email).map(Payer::Email).map_err(|_| {
            ApiError::invalid("email_invalid", "Invalid email address.", "customer_email")
        }),
        (None, None) => Ok(Payer::Anonymous),
    }
}

/// `payment_method_types[]`: every one must be a method the page offers.
fn methods(params: &mut Params) -> ApiResult<Vec<CheckoutMethod>> {
    let names = match params.patch_string_list("payment_method_types", 40)? {
        Patch::Set(names) => names,
        Patch::Keep | Patch::Clear => return Ok(vec![]),
    };
    let mut methods = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let method = CheckoutMethod::parse(name).ok_or_else(|| {
            ApiError::invalid(
                "parameter_invalid",
                format!(
                    "The payment method type {} is not available for Checkout here; available: {}.",
                    crate::error::echo(name),
                    CheckoutMethod::ALL.map(CheckoutMethod::as_str).join(", ")
                ),
                format!("payment_method_types[{i}]"),
            )
        })?;
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    Ok(methods)
}

fn locale(params: &mut Params) -> ApiResult<Option<String>> {
    match params.string("locale", 10)? {
        Some(locale) if !LOCALES.contains(&locale.as_str()) => Err(ApiError::invalid(
            "parameter_invalid",
            format!(
                "Invalid locale {}: must be one of {}.",
                crate::error::echo(&locale),
                LOCALES.join(", ")
            ),
            "locale",
        )),
        other => Ok(other),
    }
}

/// The wire error of a session the domain refuses.
pub fn domain_error(err: CheckoutError) -> ApiError {
    let code = match &err {
        CheckoutError::InvalidTotal(money) => money.code(),
        CheckoutError::InvalidUrl(_) => "url_invalid",
        _ => "parameter_invalid",
    };
    ApiError::invalid(code, err.to_string(), err.param())
}
