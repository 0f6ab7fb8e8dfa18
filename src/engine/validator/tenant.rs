//! A Tenant's own fields and policy.

use std::collections::BTreeSet;

use crate::api::TenantSpec;
use crate::engine::lifecycle::AttestationRule;
use crate::validate::identifiers::{login_method_level, scheme_country, validate_identifier};
use crate::validate::redact::Quoted;
use crate::validate::{Country, parse_duration};

/// The policy, read: durations in seconds, the login methods that reach the minimum level.
#[derive(Clone, Debug)]
pub struct Policy {
    pub rule: AttestationRule,
    pub idle: Option<u64>,
    pub lifetime: Option<u64>,
    pub login_methods: Vec<String>,
    pub country: Option<Country>,
}

/// What checking a Tenant found.
#[derive(Debug, Default)]
pub struct TenantCheck {
    /// None when the policy cannot be read: nothing of the tenant is then planned.
    pub policy: Option<Policy>,
    /// (field, reason)
    pub problems: Vec<(String, String)>,
    /// (rule, message): valid input that breaks the policy.
    pub findings: Vec<(&'static str, String)>,
}

/// The tenant's country: `spec.country`, else the first identifier that implies one.
pub fn country(spec: &TenantSpec) -> Result<Option<Country>, (String, String)> {
    match &spec.country {
        Some(c) => Country::from_code(c).map(Some).ok_or_else(|| {
            (
                "spec.country".to_string(),
                format!("{} is not one of FI, SE, DK, NO", Quoted(c)),
            )
        }),
        None => Ok(spec.identifiers.iter().find_map(|i| scheme_country(i.scheme))),
    }
}

pub fn check_tenant(spec: &TenantSpec) -> TenantCheck {
    let mut out = TenantCheck::default();
    let mut problem = |field: String, reason: String| out.problems.push((field, reason));
    if spec.display_name.trim().is_empty() {
        problem("spec.displayName".into(), "must not be empty".into());
    }
    for (i, id) in spec.identifiers.iter().enumerate() {
        if let Err(e) = validate_identifier(id.scheme, id.value.trim()) {
            problem(
                format!("spec.identifiers[{i}].value"),
                format!("{} {e}", Quoted(&id.value)),
            );
        }
    }
    let country = country(spec).unwrap_or_else(|(f, r)| {
        problem(f, r);
        None
    });
    declared_once(
        spec.roles.iter().map(|r| r.name.as_str()),
        "spec.roles",
        ".name",
        "role",
        &mut problem,
    );
    declared_once(
        spec.features.iter().map(String::as_str),
        "spec.features",
        "",
        "feature",
        &mut problem,
    );
    let durations = durations(spec, &mut problem);
    let login_methods = login_methods(spec, &mut problem, &mut out.findings);
    if !out.problems.is_empty() {
        return out;
    }
    let (Some(interval), Some(grace), idle, lifetime) = durations else {
        return out;
    };
    let days = |secs: u64| secs.div_ceil(86_400) as i64;
    out.policy = Some(Policy {
        rule: AttestationRule {
            interval_days: days(interval),
            grace_days: days(grace),
            on_overdue: spec.policy.attestation.on_overdue,
        },
        idle,
        lifetime,
        login_methods,
        country,
    });
    out
}

fn declared_once<'a>(
    names: impl Iterator<Item = &'a str>,
    list: &str,
    suffix: &str,
    what: &str,
    problem: &mut impl FnMut(String, String),
) {
    let mut seen = BTreeSet::new();
    for (i, n) in names.enumerate() {
        if !seen.insert(n) {
            problem(
                format!("{list}[{i}]{suffix}"),
                format!("{what} {} is declared twice", Quoted(n)),
            );
        }
    }
}

/// (attestation interval, grace, idle timeout, max lifetime), each None when unreadable.
fn durations(
    spec: &TenantSpec,
    problem: &mut impl FnMut(String, String),
) -> (Option<u64>, Option<u64>, Option<u64>, Option<u64>) {
    let mut duration = |field: &str, value: &str| match parse_duration(value) {
        Ok(s) => Some(s),
        Err(e) => {
            problem(field.into(), format!("{} {e}", Quoted(value)));
            None
        }
    };
    let p = &spec.policy;
    let interval = duration("spec.policy.attestation.interval", &p.attestation.interval);
    let grace = duration("spec.policy.attestation.gracePeriod", &p.attestation.grace_period);
    let idle = p
        .session
        .idle_timeout
        .as_deref()
        .and_then(|v| duration("spec.policy.session.idleTimeout", v));
    let lifetime = p
        .session
        .max_lifetime
        .as_deref()
        .and_then(|v| duration("spec.policy.session.maxLifetime", v));
    if interval == Some(0) {
        problem(
            "spec.policy.attestation.interval".into(),
            "must be longer than zero".into(),
        );
    }
    if let (Some(i), Some(l)) = (idle, lifetime)
        && i > l
    {
        problem(
            "spec.policy.session.idleTimeout".into(),
            "is longer than maxLifetime".into(),
        );
    }
    (interval, grace, idle, lifetime)
}

/// The login methods that reach the minimum level; the others are findings.
fn login_methods(
    spec: &TenantSpec,
    problem: &mut impl FnMut(String, String),
    findings: &mut Vec<(&'static str, String)>,
) -> Vec<String> {
    let login = &spec.policy.login;
    let mut methods = Vec::new();
    for (i, m) in login.methods.iter().enumerate() {
        match login_method_level(m) {
            Err(e) => problem(format!("spec.policy.login.methods[{i}]"), e.into()),
            Ok(level) if level < login.minimum_level => findings.push((
                "LoginMethodBelowMinimumLevel",
                format!(
                    "login method {} reaches eIDAS level {level:?}, below the policy's minimumLevel {:?}; it is left out of the IdP",
                    Quoted(m),
                    login.minimum_level
                ),
            )),
            Ok(_) => methods.push(m.split('@').next().unwrap_or(m).to_string()),
        }
    }
    methods
}
