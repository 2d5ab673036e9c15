//! The risk page: rules (the merchant's own and the defaults) and value
//! lists with their items. Owners and developers edit them here
//! ([`super::risk_actions`]); the other roles only look.

use super::layout::{self, error_page, Layout};
use super::pages::{list_json, start};
use super::session::SignedIn;
use super::users::Permission;
use crate::error::ApiResult;
use crate::hosted::Locale;
use crate::risk::lists::live_items;
use crate::risk::rules::all_rules;
use crate::state::AppState;
use crate::wire::ApiRequest;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_risk::ParseError;
use portcullis_store::Table;
use serde_json::Value;

/// Most lists the page shows (the newest), and most items of each.
const LISTS_SHOWN: usize = 50;
const ITEMS_SHOWN: usize = 100;
pub const PATH: &str = "/dashboard/risk";

/// The words of this page that the other pages do not use.
pub struct RiskTexts {
    pub rule_text: &'static str,
    pub rule_hint: &'static str,
    pub create_rule: &'static str,
    pub change: &'static str,
    pub enabled: &'static str,
    pub disabled: &'static str,
    pub enable: &'static str,
    pub disable: &'static str,
    pub delete: &'static str,
    pub add_value: &'static str,
    pub add: &'static str,
    pub remove: &'static str,
    /// Where and how a rule's text went wrong, in this language.
    pub parse_error: fn(&ParseError) -> String,
    done_rule_created: &'static str,
    done_rule_disabled: &'static str,
    done_rule_enabled: &'static str,
    done_rule_deleted: &'static str,
    done_item_added: &'static str,
    done_item_removed: &'static str,
}

static EN: RiskTexts = RiskTexts {
    rule_text: "Rule",
    rule_hint: "For example: block if :amount_in_usd: > 5000 — or review if :ip_country: in @risky_countries",
    create_rule: "Add rule",
    change: "Change",
    enabled: "enabled",
    disabled: "disabled",
    enable: "Enable",
    disable: "Disable",
    delete: "Delete",
    add_value: "Add a value",
    add: "Add",
    remove: "Remove",
    parse_error: |e| {
        format!(
            "Line {}, column {}: expected {}, found {}.",
            e.line, e.column, e.expected, e.found
        )
    },
    done_rule_created: "The rule was added.",
    done_rule_disabled: "The rule was disabled.",
    done_rule_enabled: "The rule was enabled.",
    done_rule_deleted: "The rule was deleted.",
    done_item_added: "The value was added to the list.",
    done_item_removed: "The value was removed from the list.",
};

static ZH_CN: RiskTexts = RiskTexts {
    rule_text: "规则",
    rule_hint:
        "例如：block if :amount_in_usd: > 5000，或 review if :ip_country: in @risky_countries",
    create_rule: "添加规则",
    change: "修改",
    enabled: "已启用",
    disabled: "已停用",
    enable: "启用",
    disable: "停用",
    delete: "删除",
    add_value: "添加值",
    add: "添加",
    remove: "移除",
    parse_error: |e| {
        format!(
            "第 {} 行第 {} 列：应为 {}，实际为 {}。",
            e.line, e.column, e.expected, e.found
        )
    },
    done_rule_created: "规则已添加。",
    done_rule_disabled: "规则已停用。",
    done_rule_enabled: "规则已启用。",
    done_rule_deleted: "规则已删除。",
    done_item_added: "该值已加入名单。",
    done_item_removed: "该值已从名单中移除。",
};

pub fn texts(loc: Locale) -> &'static RiskTexts {
    match loc {
        Locale::En => &EN,
        Locale::ZhCn => &ZH_CN,
    }
}

impl RiskTexts {
    fn done(&self, done: Option<&str>) -> Option<&'static str> {
        Some(match done? {
            "rule_created" => self.done_rule_created,
            "rule_disabled" => self.done_rule_disabled,
            "rule_enabled" => self.done_rule_enabled,
            "rule_deleted" => self.done_rule_deleted,
            "item_added" => self.done_item_added,
            "item_removed" => self.done_item_removed,
            _ => return None,
        })
    }
}

/// What the new-rule form shows again after a rule that does not parse.
#[derive(Default)]
pub struct Draft {
    pub rule: String,
    pub description: String,
    pub error: Option<String>,
}

pub struct RuleRow {
    id: String,
    rule: String,
    description: String,
    enabled: bool,
    default: bool,
}

pub struct ItemRow {
    id: String,
    value: String,
}

pub struct ListBlock {
    id: String,
    alias: String,
    name: String,
    item_type: String,
    items: Vec<ItemRow>,
}

#[derive(Template)]
#[template(path = "dashboard/risk.html")]
struct RiskPage {
    l: Layout,
    rt: &'static RiskTexts,
    may_edit: bool,
    draft: Draft,
    rules: Vec<RuleRow>,
    lists: Vec<ListBlock>,
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}

async fn rule_rows(state: &AppState, signed: &SignedIn) -> ApiResult<Vec<RuleRow>> {
    Ok(all_rules(state, &signed.scope())
        .await?
        .into_iter()
        .map(|r| RuleRow {
            default: portcullis_risk::defaults::default_rule(&r.id).is_some(),
            id: r.id,
            rule: r.rule,
            description: r.description.unwrap_or_default(),
            enabled: !r.disabled,
        })
        .collect())
}

async fn list_blocks(state: &AppState, signed: &SignedIn) -> ApiResult<Vec<ListBlock>> {
    let scope = signed.scope();
    let mut blocks = vec![];
    for list in list_json(state, Table::RiskLists, &scope, vec![], LISTS_SHOWN).await? {
        let id = text(&list, "id");
        let items = live_items(state, &scope, &id, ITEMS_SHOWN)
            .await?
            .iter()
            .map(|item| ItemRow {
                id: text(item, "id"),
                value: text(item, "value"),
            })
            .collect();
        blocks.push(ListBlock {
            alias: text(&list, "alias"),
            name: text(&list, "name"),
            item_type: text(&list, "item_type"),
            id,
            items,
        });
    }
    Ok(blocks)
}

/// The page for `signed`, with `draft` in the new-rule form and the line
/// of what `done` did.
pub async fn render(
    state: &AppState,
    signed: &SignedIn,
    loc: Locale,
    draft: Draft,
    done: Option<&str>,
) -> ApiResult<String> {
    let t = super::texts::of(loc);
    let rt = texts(loc);
    let mut l = Layout::signed(signed, loc, t.risk, PATH);
    l.flash = rt.done(done);
    let page = RiskPage {
        l,
        rt,
        may_edit: signed.user.role.may(Permission::EditRisk),
        draft,
        rules: rule_rows(state, signed).await?,
        lists: list_blocks(state, signed).await?,
    };
    page.render()
        .map_err(|err| crate::error::ApiError::internal(&err))
}

/// The page again after a rule that does not parse: 400, the form filled
/// in, the error where it went wrong.
pub async fn with_draft(
    state: &AppState,
    signed: &SignedIn,
    loc: Locale,
    draft: Draft,
) -> Response {
    match render(state, signed, loc, draft, None).await {
        Ok(html) => {
            let mut response = layout::html(state, html, None);
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
        Err(err) => error_page(state, loc, &err),
    }
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let s = match start(&state, &headers, &mut request, Permission::ViewRisk).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if let Err(err) = std::mem::take(&mut request.params).finish() {
        return error_page(&state, s.loc, &err);
    }
    match render(
        &state,
        &s.signed,
        s.loc,
        Draft::default(),
        s.done.as_deref(),
    )
    .await
    {
        Ok(html) => layout::html(&state, html, s.lang_named.then_some(s.loc)),
        Err(err) => error_page(&state, s.loc, &err),
    }
}
