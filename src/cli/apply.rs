//! `accord apply DIR...`: the plan, carried out against the live targets.

use clap::Args;

use crate::connectors::{ApplyOptions, ApplyReport, find_integration, with_progress};
use crate::engine::decide::{Action, action};
use crate::engine::plan::TargetPlan;
use crate::validate::redact::shown;

use super::plan::PlanArgs;

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Webhook targets: also send the whole state, so receivers can see what they missed.
    #[arg(long)]
    pub full_state: bool,
}

pub fn run(args: ApplyArgs) -> i32 {
    let options = ApplyOptions {
        full_state: args.full_state,
    };
    let args = args.plan;
    if args.offline {
        eprintln!("error: apply needs the live targets; --offline is for plan");
        return 1;
    }
    let runtime = super::runtime();
    let super::plan::Planned {
        snapshot,
        observed,
        plan,
        ..
    } = super::plan::make(&args, &runtime);
    print!("{}", plan.render_text(args.detail));

    let registry = crate::connectors::registry();
    let mut failed = !plan.errors.is_empty();
    println!("\nApplied:");
    for tp in &plan.targets {
        let name = &tp.integration;
        let report = match action(tp, options.full_state) {
            Action::NotApplied(reason) => {
                println!("  {name}: NOT APPLIED: {}", shown(&reason));
                failed = true;
                continue;
            }
            Action::Report => {
                println!(
                    "  {name}: Observe mode, nothing changed ({} differences reported)",
                    tp.ops.len()
                );
                continue;
            }
            Action::Nothing => ApplyReport::new(name),
            Action::Apply { full_state } => {
                let (Some(Ok(actual)), Some(integration)) =
                    (observed.get(name), find_integration(&snapshot, name))
                else {
                    continue;
                };
                match registry.connect(integration, &snapshot) {
                    Ok(c) => {
                        let line = super::progress::Line::new(&name.to_string(), tp.ops.len());
                        let tick = {
                            let line = line.clone();
                            std::sync::Arc::new(move || line.tick())
                        };
                        let apply = c.apply(tp, actual, ApplyOptions { full_state });
                        let report = runtime.block_on(with_progress(tick, apply));
                        line.finish();
                        report
                    }
                    Err(e) => {
                        let mut r = ApplyReport::new(name);
                        r.abort(e.to_string(), tp.ops.len());
                        r
                    }
                }
            }
        };
        print_report(tp, &report);
        failed |= !report.ok();
    }
    for e in &plan.errors {
        eprintln!("error: {e}");
    }
    if failed { 1 } else { 0 }
}

fn print_report(tp: &TargetPlan, report: &ApplyReport) {
    let held = match tp.held.len() + tp.held_unread.len() {
        0 => String::new(),
        n => format!(", {n} deletions HELD"),
    };
    println!(
        "  {}: {} of {} operations done, {} writes{held}",
        tp.integration,
        report.succeeded,
        tp.ops.len(),
        report.writes
    );
    for (key, why) in &report.failed {
        println!("    failed: {key}: {}", shown(why));
    }
    if let Some(why) = &report.aborted {
        println!(
            "    stopped: {}; {} operations left for the next run",
            shown(why),
            report.not_attempted
        );
    }
}
