//! What the commit that makes an intent paid carries besides the intent,
//! its charge and their events, read from other objects: a top-up's credit
//! to its customer's wallet (`customer_balance::payments::top_up_writes`)
//! and the completion of the Checkout Session the intent was made for
//! (`checkout::completion_writes`). Both are empty, with nothing read, for
//! an ordinary intent. After the connector call such a commit is never
//! re-run; when another writer changed the customer or the session in
//! between, these writes are re-planned on fresh state (see
//! [`crate::idempotency::Replan`]), the rest kept as it is.

use super::Ctx;
use crate::error::ApiResult;
use crate::idempotency::{Executed, Replan};
use portcullis_domain::payment_intents::PaymentIntent;
use portcullis_store::{WriteOp, WriteSet};

/// The top-up credit and the session completion `intent` (as it is after
/// this commit) calls for.
pub async fn follow_up_writes(ctx: &Ctx<'_>, intent: &PaymentIntent) -> ApiResult<Vec<WriteOp>> {
    let mut ops = crate::customer_balance::payments::top_up_writes(ctx, intent).await?;
    let completed =
        crate::checkout::completion_writes(ctx.state, ctx.scope, intent, ctx.origin).await?;
    ops.extend(completed);
    Ok(ops)
}

/// `executed` (a phase two after the connector call) with `intent`'s
/// [`follow_up_writes`], and how to re-plan them after a conflict.
pub async fn with_follow_ups(
    ctx: &Ctx<'_>,
    intent: &PaymentIntent,
    mut executed: Executed,
) -> ApiResult<Executed> {
    let follow_ups = follow_up_writes(ctx, intent).await?;
    if follow_ups.is_empty() {
        return Ok(executed);
    }
    let rest = executed.writes.clone();
    executed.writes.ops.extend(follow_ups);
    executed.replan = Some(replan(ctx, intent, rest));
    Ok(executed)
}

/// Re-plans `rest` plus the follow-ups read afresh: a session completed
/// meanwhile (by a visit of its page) is not completed twice.
fn replan(ctx: &Ctx<'_>, intent: &PaymentIntent, rest: WriteSet) -> Replan {
    let (state, scope, origin) = (ctx.state.clone(), ctx.scope.clone(), ctx.origin.clone());
    let intent = intent.clone();
    Box::new(move || {
        let (state, scope, origin) = (state.clone(), scope.clone(), origin.clone());
        let (intent, mut writes) = (intent.clone(), rest.clone());
        Box::pin(async move {
            let ctx = Ctx {
                state: &state,
                scope: &scope,
                origin: &origin,
            };
            writes.ops.extend(follow_up_writes(&ctx, &intent).await?);
            Ok(writes)
        })
    })
}
