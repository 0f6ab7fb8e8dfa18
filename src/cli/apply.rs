//! `accord apply DIR...`: the plan, carried out against the live targets.

use clap::Args;

use crate::api::ManagementMode;
use crate::engine::plan::Baseline;
use crate::connectors::{ApplyOptions, ApplyReport, Target, find_integration};

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

    let mut reports: Vec<ApplyReport> = Vec::new();
    let mut failed = !plan.errors.is_empty();
    println!("\nApplied:");
    for tp in &plan.targets {
        let name = &tp.integration;
        match (&tp.baseline, tp.management) {
            (Baseline::Empty { reason }, _) => {
                println!("  {name}: NOT APPLIED: {reason}");
                failed = true;
            }
            (_, ManagementMode::Observe) => println!(
                "  {name}: Observe mode, nothing changed ({} differences reported)",
                tp.ops.len()
            ),
            (Baseline::Live, ManagementMode::Enforce) => {
                let Some(Ok(actual)) = observed.get(name) else {
                    continue;
                };
                let target = find_integration(&snapshot, name).map(|i| Target::new(i, &snapshot));
                let report = match target {
                    Some(Ok(t)) => runtime.block_on(t.apply(tp, actual, options)),
                    Some(Err(e)) => {
                        let mut r = ApplyReport::new(name);
                        r.abort(e.to_string(), tp.ops.len());
                        r
                    }
                    None => continue,
                };
                let held = if tp.held.is_empty() {
                    String::new()
                } else {
                    format!(", {} deletions HELD", tp.held.len())
                };
                println!(
                    "  {name}: {} of {} operations done, {} writes{held}",
                    report.succeeded,
                    tp.ops.len(),
                    report.writes
                );
                for (key, why) in &report.failed {
                    println!("    failed: {key}: {why}");
                }
                if let Some(why) = &report.aborted {
                    println!(
                        "    stopped: {why}; {} operations left for the next run",
                        report.not_attempted
                    );
                }
                failed |= !report.ok();
                reports.push(report);
            }
        }
    }
    for e in &plan.errors {
        eprintln!("error: {e}");
    }
    if failed { 1 } else { 0 }
}
