//! `e4c2 rule …`: automation rules over gRPC, tables by default, `--json`
//! for scripts. The server checks every rule; its message is printed as is.

use crate::api::grpc::pb;
use crate::automation::ops::when;
use crate::cli::admin::follow_delivery;
use crate::cli::args::{ConnArgs, RuleArg, RuleCmd};
use crate::cli::conn::{connect, status};
use crate::cli::table;
use anyhow::Result;
use serde_json::{json, Value};

/// Firings shown by `rule show`.
const SHOWN_FIRINGS: u32 = 5;

fn rref(r: &RuleArg) -> pb::RuleRef {
    pb::RuleRef {
        name: r.name.clone(),
    }
}

fn rule_json(r: &pb::Rule) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "target": r.target,
        "triggers": r.triggers,
        "action": r.action,
        "missed": r.missed,
        "enabled": r.enabled,
        "created_at": r.created_at,
        "next_fire_at": r.next_fire_at,
        "last_fired_at": r.last_fired_at,
        "count_progress": r.count_progress,
    })
}

fn firing_json(f: &pb::RuleFiring) -> Value {
    json!({
        "id": f.id,
        "slot": f.slot,
        "due_at": f.due_at,
        "fired_at": f.fired_at,
        "reason": f.reason,
        "outcome": f.outcome,
        "commands": f.commands,
        "first_command": f.first_command,
        "last_command": f.last_command,
        "detail": f.detail,
    })
}

fn fire_json(dry_run: bool, r: &pb::FireResult) -> Value {
    json!({
        "dry_run": dry_run,
        "commands": r.commands,
        "first_command": r.first_command,
        "last_command": r.last_command,
        "subjects": r.subjects,
        "skipped": r.skipped,
        "names": r.names,
        "detail": r.detail,
    })
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// The NEXT FIRE cell: the next slot, or why there is none.
fn next_cell(r: &pb::Rule) -> String {
    match r.next_fire_at {
        Some(ms) => when(Some(ms)),
        None if !r.enabled => "- (disabled)".into(),
        None => "-".into(),
    }
}

fn print_list(json: bool, rules: &[pb::Rule]) {
    if json {
        let v: Vec<Value> = rules.iter().map(rule_json).collect();
        println!("{}", json!({ "rules": v }));
        return;
    }
    let rows: Vec<Vec<String>> = rules
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                yes_no(r.enabled),
                r.target.clone(),
                r.triggers.join(", "),
                r.action.clone(),
                next_cell(r),
                when(r.last_fired_at),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "NAME",
                "ENABLED",
                "TARGET",
                "TRIGGERS",
                "ACTION",
                "NEXT FIRE (UTC)",
                "LAST FIRED (UTC)"
            ],
            &rows
        )
    );
    println!("{} rule(s)", rules.len());
}

fn history_table(firings: &[pb::RuleFiring]) -> String {
    let rows: Vec<Vec<String>> = firings
        .iter()
        .map(|f| {
            vec![
                f.id.to_string(),
                when(Some(f.fired_at)),
                when(Some(f.due_at)),
                f.reason.clone(),
                f.outcome.clone(),
                f.commands.to_string(),
                f.detail.clone(),
            ]
        })
        .collect();
    table::render(
        &[
            "ID",
            "WHEN (UTC)",
            "DUE (UTC)",
            "REASON",
            "OUTCOME",
            "COMMANDS",
            "DETAIL",
        ],
        &rows,
    )
}

/// One rule; with `firings`, its last firings under it.
fn print_rule(json: bool, r: &pb::Rule, firings: Option<&[pb::RuleFiring]>) {
    if json {
        let mut v = rule_json(r);
        if let Some(f) = firings {
            v["last_firings"] = f.iter().map(firing_json).collect();
        }
        println!("{v}");
        return;
    }
    let mut rows = vec![
        vec!["name".to_string(), r.name.clone()],
        vec!["enabled".into(), yes_no(r.enabled)],
        vec!["target".into(), r.target.clone()],
    ];
    for t in &r.triggers {
        rows.push(vec!["trigger".into(), t.clone()]);
    }
    rows.push(vec!["action".into(), r.action.clone()]);
    rows.push(vec!["missed slots".into(), r.missed.clone()]);
    rows.push(vec!["created".into(), when(Some(r.created_at))]);
    rows.push(vec!["next fire".into(), next_cell(r)]);
    rows.push(vec!["last fired".into(), when(r.last_fired_at)]);
    if r.triggers.iter().any(|t| t.starts_with("count:")) {
        rows.push(vec![
            "membership changes counted".into(),
            r.count_progress.to_string(),
        ]);
    }
    print!("{}", table::render(&["FIELD", "VALUE"], &rows));
    if let Some(f) = firings {
        if f.is_empty() {
            println!("\nno firings yet");
        } else {
            println!("\nlast firings:");
            print!("{}", history_table(f));
        }
    }
}

/// `e4c2 rule …`.
pub async fn rule(g: &ConnArgs, cmd: RuleCmd) -> Result<()> {
    let mut api = connect(g).await?;
    match cmd {
        RuleCmd::Add {
            conn,
            name,
            target,
            triggers,
            action,
            missed,
            disabled,
        } => {
            let r = api
                .add_rule(pb::NewRuleRequest {
                    name,
                    target,
                    triggers,
                    action,
                    missed,
                    disabled,
                })
                .await
                .map_err(status)?
                .into_inner();
            print_rule(conn.json, &r, None);
        }
        RuleCmd::List { conn } => {
            let l = api
                .list_rules(pb::Empty {})
                .await
                .map_err(status)?
                .into_inner();
            print_list(conn.json, &l.rules);
        }
        RuleCmd::Show { conn, rule } => {
            let r = api
                .get_rule(rref(&rule))
                .await
                .map_err(status)?
                .into_inner();
            let h = api
                .rule_history(pb::RuleHistoryRequest {
                    name: rule.name,
                    before: 0,
                    limit: SHOWN_FIRINGS,
                })
                .await
                .map_err(status)?
                .into_inner();
            print_rule(conn.json, &r, Some(&h.firings));
        }
        RuleCmd::Enable { conn, rule } => {
            let r = api
                .enable_rule(rref(&rule))
                .await
                .map_err(status)?
                .into_inner();
            print_rule(conn.json, &r, None);
        }
        RuleCmd::Disable { conn, rule } => {
            let r = api
                .disable_rule(rref(&rule))
                .await
                .map_err(status)?
                .into_inner();
            print_rule(conn.json, &r, None);
        }
        RuleCmd::Remove { conn, rule } => {
            api.remove_rule(rref(&rule)).await.map_err(status)?;
            if conn.json {
                println!("{}", json!({"ok": true}));
            } else {
                println!("rule {:?} removed, with its history", rule.name);
            }
        }
        RuleCmd::Fire {
            conn,
            rule,
            dry_run,
            wait,
        } => {
            let r = if dry_run {
                api.dry_run_rule(rref(&rule)).await
            } else {
                api.fire_rule(rref(&rule)).await
            }
            .map_err(status)?
            .into_inner();
            if conn.json {
                println!("{}", fire_json(dry_run, &r));
                return Ok(());
            }
            if dry_run {
                println!("{}", r.detail);
            } else {
                println!("{} command(s) queued: {}", r.commands, r.detail);
            }
            if dry_run {
                println!("nothing was queued or changed (dry run)");
            } else if !wait.no_wait && r.commands > 0 {
                let q = pb::CommandsQueued {
                    count: r.commands,
                    first_id: r.first_command,
                    last_id: r.last_command,
                };
                follow_delivery(&mut api, &q, wait.wait_devices).await?;
            }
        }
        RuleCmd::History {
            conn,
            rule,
            limit,
            before,
        } => {
            let h = api
                .rule_history(pb::RuleHistoryRequest {
                    name: rule.name.clone(),
                    before: before.unwrap_or(0),
                    limit,
                })
                .await
                .map_err(status)?
                .into_inner();
            if conn.json {
                let v: Vec<Value> = h.firings.iter().map(firing_json).collect();
                println!("{}", json!({"rule": rule.name, "firings": v}));
            } else if h.firings.is_empty() {
                println!("rule {:?} has no firings yet", rule.name);
            } else {
                print!("{}", history_table(&h.firings));
                if h.firings.len() as u32 == limit {
                    let oldest = h.firings.last().map_or(0, |f| f.id);
                    println!("older: --before {oldest}");
                }
            }
        }
    }
    Ok(())
}
