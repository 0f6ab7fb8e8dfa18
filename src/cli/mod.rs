//! The command line: thin shells around the engine.

pub mod apply;
pub mod attest;
pub mod crds;
pub mod import;
pub mod plan;
pub mod progress;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "accord",
    version,
    about = "Declarative access reconciler: Tenant, OrgUnit, UserGrant and Integration manifests into LDAP, IdP and extranet"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show what would change downstream. Exit 0: nothing; 2: changes; 1: errors.
    Plan(plan::PlanArgs),
    /// Carry out the plan against the live targets. Exit 0: all done; 1: errors or failures.
    Apply(apply::ApplyArgs),
    /// Record attestations in manifest files, or list who is due (--due).
    Attest(attest::AttestArgs),
    /// Turn a staff roster (CSV, XLSX) into UserGrant manifests.
    Import(import::ImportArgs),
    /// Keep a cluster's resources reconciled and report in their status.
    Operator(crate::operator::OperatorArgs),
    /// Print the CustomResourceDefinitions as YAML (--kubernetes-version for older servers).
    Crds(crds::CrdsArgs),
}

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum Output {
    #[default]
    Text,
    Json,
}

/// Paths default to ./examples, so `accord plan` shows the bundled customers.
pub fn default_paths(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("examples")]
    } else {
        paths
    }
}

pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Plan(args) => plan::run(args),
        Command::Apply(args) => apply::run(args),
        Command::Import(args) => import::run(args),
        Command::Attest(args) => attest::run(args),
        Command::Operator(args) => crate::operator::run(args),
        Command::Crds(args) => crds::run(args),
    }
}

/// The async runtime the commands use for targets.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
