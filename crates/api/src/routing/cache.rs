//! A merchant's routing inputs (parsed rules and card connector accounts)
//! per scope, kept for `routing_cache_ttl_ms` (see [`ScopeCache`]).

use super::decision::RoutingInputs;
use crate::scope_cache::ScopeCache;

pub type RoutingCache = ScopeCache<RoutingInputs>;
