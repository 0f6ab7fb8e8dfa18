//! `accord plan DIR...`

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use jiff::civil::Date;

use crate::engine::{compile, make_plan};
use crate::manifests::load_paths;

use super::{Output, default_paths};

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Manifest files or folders (default: examples)
    pub paths: Vec<PathBuf>,
    /// Plan against an empty baseline instead of reading the live targets.
    #[arg(long)]
    pub offline: bool,
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
    /// List every attribute of objects to be created.
    #[arg(long)]
    pub detail: bool,
    /// Namespace for manifests that name none.
    #[arg(short, long, default_value = "default")]
    pub namespace: String,
    /// Plan as of this date instead of today (YYYY-MM-DD).
    #[arg(long)]
    pub today: Option<Date>,
    /// Release up to N person deletions per target past the tenant's deletion threshold.
    #[arg(long, default_value_t = 0)]
    pub confirm_deletions: u32,
    /// Only these Integrations (by name; repeatable).
    #[arg(long = "target", value_name = "INTEGRATION")]
    pub target: Vec<String>,
}

pub fn today_or(arg: Option<Date>) -> Date {
    arg.unwrap_or_else(|| jiff::Zoned::now().date())
}

/// What `plan` and `apply` both do: read the manifests, compile, read the live targets
/// (unless offline) and diff.
pub struct Planned {
    pub paths: Vec<PathBuf>,
    pub files: usize,
    /// Documents of kinds that are clearly not accord's, passed over.
    pub ignored: usize,
    pub snapshot: crate::engine::Snapshot,
    pub observed: BTreeMap<crate::engine::ObjectRef, crate::engine::Observation>,
    pub plan: crate::engine::Plan,
}

pub fn make(args: &PlanArgs, runtime: &tokio::runtime::Runtime) -> Planned {
    let paths = default_paths(args.paths.clone());
    let loaded = load_paths(&paths, &args.namespace);
    let registry = crate::connectors::registry();
    let mut compiled = compile(&loaded.snapshot, today_or(args.today), registry);
    compiled.problems.splice(0..0, loaded.problems);
    compiled
        .targets
        .retain(|t| args.target.is_empty() || args.target.iter().any(|n| n == &t.integration.name));
    let observed = if args.offline {
        BTreeMap::new()
    } else {
        runtime.block_on(registry.observe_all(&compiled.targets, &loaded.snapshot))
    };
    let confirmed = compiled
        .targets
        .iter()
        .map(|t| (t.integration.clone(), args.confirm_deletions))
        .collect();
    let plan = make_plan(compiled, &observed, &confirmed);
    Planned {
        paths,
        files: loaded.files,
        ignored: loaded.ignored,
        snapshot: loaded.snapshot,
        observed,
        plan,
    }
}

pub fn run(args: PlanArgs) -> i32 {
    let Planned {
        paths,
        files,
        ignored,
        plan,
        ..
    } = make(&args, &super::runtime());
    match args.output {
        Output::Text => {
            let where_ = if args.offline {
                "offline, against empty targets"
            } else {
                "against the live targets where reachable"
            };
            println!(
                "accord plan of {} ({} files{}, {where_})\n",
                crate::validate::redact::shown(
                    &paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                files,
                match ignored {
                    0 => String::new(),
                    1 => ", 1 document of another kind passed over".into(),
                    n => format!(", {n} documents of other kinds passed over"),
                }
            );
            print!("{}", plan.render_text(args.detail));
        }
        Output::Json => {
            if let Err(e) = plan.write_json(std::io::stdout().lock()) {
                eprintln!("error: cannot write the plan: {e}");
                return 1;
            }
        }
    }
    for e in &plan.errors {
        eprintln!("error: {e}");
    }
    plan.exit_code()
}
