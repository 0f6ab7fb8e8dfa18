//! The thin HTTP part: routes `/scim/{namespace}/{integration}/v2/…` and
//! `/leavers/{namespace}/{integration}` to the service, reads bodies (bounded), query
//! parameters and headers, and answers every failure as a SCIM error — never a 500.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::access::{Caller, authenticate};
use super::error::ScimError;
use super::filter::parse_filter;
use super::schema::{self, ResourceKind};
use super::service::{MAX_RESULTS, Query, Service, Versioned};
use super::store::Backend;

/// Largest request body: a Group PATCH adding many members fits.
pub const MAX_BODY: usize = 1024 * 1024;
const SCIM_JSON: &str = "application/scim+json; charset=utf-8";

pub struct Server<B: Backend> {
    pub service: Service<B>,
    /// Whether the listener speaks TLS (for the URLs in `meta.location`).
    pub tls: bool,
}

pub fn router<B: Backend>(server: Arc<Server<B>>) -> axum::Router {
    axum::Router::new().fallback(handle::<B>).with_state(server)
}

async fn handle<B: Backend>(State(server): State<Arc<Server<B>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path: Vec<String> = parts
        .uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s))
        .collect();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return error(ScimError::too_large(MAX_BODY)),
    };
    let r = Incoming {
        method: parts.method,
        headers: parts.headers,
        query: parts.uri.query().unwrap_or_default().to_string(),
        body: bytes.to_vec(),
    };
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["scim", ns, integration, "v2", rest @ ..] => {
            let base = format!("{}://{}/scim/{ns}/{integration}/v2", if server.tls { "https" } else { "http" }, host(&r.headers));
            match scim(&server, ns, integration, rest, &r, &base).await {
                Ok(resp) => resp,
                Err(e) => error(e),
            }
        }
        ["leavers", ns, integration] => match leaver(&server, ns, integration, &r).await {
            Ok(resp) => resp,
            Err(e) => error(e),
        },
        _ => error(ScimError::not_found(
            "no such endpoint: SCIM is served at /scim/{namespace}/{integration}/v2, leavers at /leavers/{namespace}/{integration}",
        )),
    }
}

struct Incoming {
    method: Method,
    headers: HeaderMap,
    query: String,
    body: Vec<u8>,
}

impl Incoming {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON; the content type, when given, must be JSON (any parameters).
    fn json(&self) -> Result<Value, ScimError> {
        if let Some(ct) = self.header("content-type") {
            let media = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            if media != "application/scim+json" && media != "application/json" {
                return Err(ScimError::new(415, None, format!(
                    "send the body as application/scim+json (or application/json), not {media}"
                )));
            }
        }
        if self.body.is_empty() {
            return Err(ScimError::invalid_syntax("the request needs a JSON body"));
        }
        let text = std::str::from_utf8(&self.body).map_err(|_| ScimError::invalid_syntax("the body is not UTF-8"))?;
        let v: Value = json_bounded(text)?;
        Ok(v)
    }
}

/// JSON with nesting bounded (serde_json stops at 128 levels; we stop earlier).
fn json_bounded(text: &str) -> Result<Value, ScimError> {
    let mut depth = 0usize;
    let mut max = 0usize;
    let mut in_str = false;
    let mut esc = false;
    for b in text.bytes() {
        match (in_str, esc, b) {
            (true, true, _) => esc = false,
            (true, false, b'\\') => esc = true,
            (true, false, b'"') => in_str = false,
            (false, _, b'"') => in_str = true,
            (false, _, b'{' | b'[') => {
                depth += 1;
                max = max.max(depth);
            }
            (false, _, b'}' | b']') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if max > 32 {
        return Err(ScimError::invalid_syntax("the JSON body nests deeper than 32 levels"));
    }
    serde_json::from_str(text).map_err(|e| {
        ScimError::invalid_syntax(format!(
            "the body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

fn host(h: &HeaderMap) -> String {
    h.get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.chars().all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c)))
        .unwrap_or("localhost")
        .to_string()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn error(e: ScimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (status, [(header::CONTENT_TYPE, SCIM_JSON)], e.body().to_string()).into_response();
    if let Some(s) = e.retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    if e.status == 401 {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"accord\""));
    }
    resp
}

fn ok(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, SCIM_JSON)], body.to_string()).into_response()
}

fn resource(status: StatusCode, v: Versioned) -> Response {
    let location = v.body["meta"]["location"].as_str().map(str::to_string);
    let mut resp = ok(status, v.body);
    if let Ok(etag) = HeaderValue::from_str(&format!("W/\"{}\"", v.version)) {
        resp.headers_mut().insert(header::ETAG, etag);
    }
    if status == StatusCode::CREATED
        && let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok())
    {
        resp.headers_mut().insert(header::LOCATION, l);
    }
    resp
}

fn list(items: Vec<Value>, q: &Query) -> Value {
    let total = items.len();
    let start = q.start_index.max(1);
    let count = q.count.unwrap_or(MAX_RESULTS).min(MAX_RESULTS);
    let page: Vec<Value> = items.into_iter().skip(start - 1).take(count).collect();
    json!({
        "schemas": [schema::LIST],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": page.len(),
        "Resources": page,
    })
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()
}

/// filter, startIndex, count, attributes, excludedAttributes from the URL.
fn url_query(raw: &str) -> Result<Query, ScimError> {
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(raw);
    let get = |k: &str| pairs.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.as_str());
    query_from(get("filter"), get("startIndex"), get("count"), get("attributes").map(split_list), get("excludedAttributes").map(split_list))
}

fn serde_urlencoded_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let d = |s: &str| percent_decode(&s.replace('+', " "));
            (d(k), d(v))
        })
        .collect()
}

fn query_from(
    filter: Option<&str>,
    start: Option<&str>,
    count: Option<&str>,
    attributes: Option<Vec<String>>,
    excluded: Option<Vec<String>>,
) -> Result<Query, ScimError> {
    let number = |name: &str, v: Option<&str>| -> Result<Option<usize>, ScimError> {
        v.map(|s| {
            s.trim()
                .parse::<i64>()
                .map(|n| n.max(0) as usize)
                .map_err(|_| ScimError::invalid_value(format!("{name} must be a whole number")))
        })
        .transpose()
    };
    Ok(Query {
        filter: filter.filter(|f| !f.trim().is_empty()).map(parse_filter).transpose()?,
        start_index: number("startIndex", start)?.unwrap_or(1),
        count: number("count", count)?,
        attributes: attributes.unwrap_or_default(),
        excluded: excluded.unwrap_or_default(),
    })
}

/// A SearchRequest body (POST …/.search).
fn search_query(body: &Value) -> Result<Query, ScimError> {
    let s = |k: &str| body.get(k).and_then(Value::as_str);
    let n = |k: &str| body.get(k).map(|v| v.to_string().trim_matches('"').to_string());
    let names = |k: &str| {
        body.get(k).map(|v| match v {
            Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            Value::String(x) => split_list(x),
            _ => vec![],
        })
    };
    query_from(s("filter"), n("startIndex").as_deref(), n("count").as_deref(), names("attributes"), names("excludedAttributes"))
}

fn kind_of(seg: &str) -> Option<ResourceKind> {
    match seg {
        "Users" => Some(ResourceKind::User),
        "Groups" => Some(ResourceKind::Group),
        _ => None,
    }
}

fn read_only(what: &str) -> ScimError {
    ScimError::method_not_allowed(format!("{what} is read-only: only GET is allowed"))
}

async fn scim<B: Backend>(server: &Server<B>, ns: &str, integration: &str, rest: &[&str], r: &Incoming, base: &str) -> Result<Response, ScimError> {
    let svc = &server.service;
    let caller = authenticate(&svc.backend, ns, integration, r.header("authorization"))?;
    svc.limits.take(&caller)?;
    let get = r.method == Method::GET;
    let if_match = r.header("if-match");
    match rest {
        ["ServiceProviderConfig"] if get => Ok(ok(StatusCode::OK, schema::service_provider_config(base))),
        ["ServiceProviderConfig"] => Err(read_only("ServiceProviderConfig")),
        ["ResourceTypes"] if get => {
            let items = [ResourceKind::User, ResourceKind::Group].map(|k| schema::resource_type_doc(k, base)).to_vec();
            Ok(ok(StatusCode::OK, list(items, &Query::default())))
        }
        ["ResourceTypes", id] if get => match [ResourceKind::User, ResourceKind::Group].into_iter().find(|k| k.name() == *id) {
            Some(k) => Ok(ok(StatusCode::OK, schema::resource_type_doc(k, base))),
            None => Err(ScimError::not_found(format!("no ResourceType {id:?}: User and Group are served"))),
        },
        ["ResourceTypes", ..] => Err(read_only("ResourceTypes")),
        ["Schemas"] if get => {
            let items = schema::schema_ids().iter().filter_map(|id| schema::schema_doc(id, base)).collect();
            Ok(ok(StatusCode::OK, list(items, &Query::default())))
        }
        ["Schemas", id] if get => schema::schema_doc(id, base)
            .map(|d| ok(StatusCode::OK, d))
            .ok_or_else(|| ScimError::not_found(format!("no Schema {id:?}"))),
        ["Schemas", ..] => Err(read_only("Schemas")),
        [".search"] if r.method == Method::POST => {
            let q = search_query(&r.json()?)?;
            let mut items = svc.all(&caller, ResourceKind::User, base, &q)?;
            items.extend(svc.all(&caller, ResourceKind::Group, base, &q)?);
            Ok(ok(StatusCode::OK, list(items, &q)))
        }
        [seg] if kind_of(seg).is_some() => {
            let kind = kind_of(seg).unwrap_or(ResourceKind::User);
            match r.method {
                Method::GET => {
                    let q = url_query(&r.query)?;
                    Ok(ok(StatusCode::OK, list(svc.all(&caller, kind, base, &q)?, &q)))
                }
                Method::POST => {
                    let body = r.json()?;
                    let v = match kind {
                        ResourceKind::User => svc.create_user(&caller, &body, base).await?,
                        ResourceKind::Group => svc.create_group(&caller, &body, base).await?,
                    };
                    Ok(resource(StatusCode::CREATED, v))
                }
                _ => Err(ScimError::method_not_allowed(format!("/{seg} takes GET and POST"))),
            }
        }
        [seg, ".search"] if kind_of(seg).is_some() && r.method == Method::POST => {
            let kind = kind_of(seg).unwrap_or(ResourceKind::User);
            let q = search_query(&r.json()?)?;
            Ok(ok(StatusCode::OK, list(svc.all(&caller, kind, base, &q)?, &q)))
        }
        [seg, id] if kind_of(seg).is_some() => {
            let kind = kind_of(seg).unwrap_or(ResourceKind::User);
            one(svc, &caller, kind, id, r, if_match, base).await
        }
        _ => Err(ScimError::not_found(format!(
            "no such SCIM endpoint /{}: there are /Users, /Groups, /Schemas, /ResourceTypes and /ServiceProviderConfig",
            rest.join("/")
        ))),
    }
}

async fn one<B: Backend>(svc: &Service<B>, caller: &Caller, kind: ResourceKind, id: &str, r: &Incoming, if_match: Option<&str>, base: &str) -> Result<Response, ScimError> {
    match (r.method.clone(), kind) {
        (Method::GET, _) => {
            let q = url_query(&r.query)?;
            Ok(resource(StatusCode::OK, svc.get(caller, kind, id, base, &q)?))
        }
        (Method::PUT, ResourceKind::User) => Ok(resource(StatusCode::OK, svc.replace_user(caller, id, &r.json()?, if_match, base).await?)),
        (Method::PUT, ResourceKind::Group) => Ok(resource(StatusCode::OK, svc.replace_group(caller, id, &r.json()?, if_match, base).await?)),
        (Method::PATCH, _) => {
            let ops = super::patch::parse(&r.json()?)?;
            let v = match kind {
                ResourceKind::User => svc.patch_user(caller, id, &ops, if_match, base).await?,
                ResourceKind::Group => svc.patch_group(caller, id, &ops, if_match, base).await?,
            };
            let q = url_query(&r.query)?;
            Ok(resource(StatusCode::OK, Versioned { body: super::service::project(kind, v.body, &q), version: v.version }))
        }
        (Method::DELETE, ResourceKind::User) => {
            svc.delete_user(caller, id, if_match).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (Method::DELETE, ResourceKind::Group) => {
            svc.delete_group(caller, id, if_match).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(ScimError::method_not_allowed(format!("/{}/{{id}} takes GET, PUT, PATCH and DELETE", kind.endpoint()))),
    }
}

async fn leaver<B: Backend>(server: &Server<B>, ns: &str, integration: &str, r: &Incoming) -> Result<Response, ScimError> {
    if r.method != Method::POST {
        return Err(ScimError::method_not_allowed("/leavers/{namespace}/{integration} takes POST"));
    }
    let svc = &server.service;
    let caller = authenticate(&svc.backend, ns, integration, r.header("authorization"))?;
    svc.limits.take(&caller)?;
    let body = r.json()?;
    let (status, v) = crate::producers::leaver::report(svc, &caller, &body, r.header("idempotency-key")).await?;
    Ok((StatusCode::from_u16(status).unwrap_or(StatusCode::OK), [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_bodies_are_read_or_refused_with_a_reason() {
        let q = url_query("filter=userName%20eq%20%22a%40b.fi%22&startIndex=2&count=5&excludedAttributes=members").unwrap();
        assert!(q.filter.is_some() && q.start_index == 2 && q.count == Some(5));
        assert_eq!(q.excluded, ["members"]);
        assert!(url_query("count=x").unwrap_err().detail.contains("count"));
        assert!(url_query("filter=userName+zz+1").is_err());
        let deep = format!("{}1{}", "[".repeat(50), "]".repeat(50));
        assert!(json_bounded(&deep).unwrap_err().detail.contains("deeper"));
        assert!(json_bounded("{\"a\": ").unwrap_err().detail.contains("not valid JSON"));
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
    }
}
