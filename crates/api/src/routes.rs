//! The route registry: every endpoint is added here once, with what the
//! OpenAPI document says of it, and both the router and the document are
//! built from the same list — so no route can go undocumented and no
//! documented path can be missing from the router.

pub mod params;

use crate::state::AppState;
use axum::handler::Handler;
use axum::Router;
pub use params::Param;

/// How an operation authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// An API key (Bearer or Basic).
    ApiKey,
    /// No key: health checks, the document itself, hosted pages (which
    /// check a client secret instead).
    Public,
}

/// One documented endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub method: &'static str,
    /// In axum's syntax (`/v1/customers/{id}`), which is also OpenAPI's.
    pub path: &'static str,
    pub summary: &'static str,
    /// The `object` the success response carries (`customer`, `list`, …),
    /// or `None` for non-JSON answers such as HTML pages.
    pub answers: Option<&'static str>,
    pub auth: Auth,
    /// The body (POST) or query (GET, DELETE) parameters it accepts;
    /// `None` until declared (the registry's test refuses that).
    pub params: Option<&'static [Param]>,
}

/// An operation's declared parameters, as its handler's request carries
/// them (a request extension), for `wire::Params` to check reads against.
#[derive(Clone, Copy, Debug)]
pub struct DeclaredParams(pub &'static [Param]);

/// Routes and their documentation, built together.
#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    operations: Vec<Operation>,
}

macro_rules! method {
    ($name:ident, $axum:ident, $verb:literal) => {
        /// Adds a handler for this method and path, and documents it.
        pub fn $name<H, T>(mut self, op: Doc, handler: H) -> Self
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            let mut route = axum::routing::$axum(handler);
            if let Some(params) = op.params {
                route = route.layer(axum::Extension(DeclaredParams(params)));
            }
            self.router = self.router.route(op.path, route);
            self.operations.push(op.operation($verb));
            self
        }
    };
}

/// The `answers` of a hosted page's own JSON call (what its script asks
/// for): an object of the page's, not one of the API's.
pub const PAGE_JSON: &str = "page_json";

/// What a route says of itself; see [`doc`].
pub struct Doc {
    path: &'static str,
    summary: &'static str,
    answers: Option<&'static str>,
    auth: Auth,
    params: Option<&'static [Param]>,
}

impl Doc {
    fn operation(self, method: &'static str) -> Operation {
        Operation {
            method,
            path: self.path,
            summary: self.summary,
            answers: self.answers,
            auth: self.auth,
            params: self.params,
        }
    }

    /// Declares the parameters the operation accepts (see [`params`]).
    pub fn params(mut self, params: &'static [Param]) -> Self {
        self.params = Some(params);
        self
    }

    /// Marks an operation that needs no API key.
    pub fn public(mut self) -> Self {
        self.auth = Auth::Public;
        self
    }

    /// Marks an operation whose answer is not a JSON object (an HTML page).
    pub fn not_json(mut self) -> Self {
        self.answers = None;
        self
    }

    /// Marks a hosted page's own JSON call ([`PAGE_JSON`]).
    pub fn page_json(mut self) -> Self {
        self.answers = Some(PAGE_JSON);
        self
    }
}

/// Documents `path`: what it does and which object it answers.
pub fn doc(path: &'static str, summary: &'static str, answers: &'static str) -> Doc {
    Doc {
        path,
        summary,
        answers: Some(answers),
        auth: Auth::ApiKey,
        params: None,
    }
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    method!(get, get, "get");
    method!(post, post, "post");
    method!(delete, delete, "delete");

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.operations.extend(other.operations);
        self
    }

    /// Reassembles a registry whose router already serves every operation.
    pub fn from_parts(router: Router<AppState>, operations: Vec<Operation>) -> Self {
        Self { router, operations }
    }

    pub fn into_parts(self) -> (Router<AppState>, Vec<Operation>) {
        (self.router, self.operations)
    }
}
