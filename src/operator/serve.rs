//! `/healthz`, `/readyz` and `/metrics`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Context;

pub async fn serve(listen: String, ctx: Arc<Context>) {
    use axum::routing::get;
    let ready = ctx.clone();
    let metrics = ctx.clone();
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.clone();
                async move {
                    if ready.ready.load(Ordering::SeqCst) {
                        (axum::http::StatusCode::OK, "ready")
                    } else {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "starting")
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            "content-type",
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.metrics.encode(),
                    )
                }
            }),
        );
    match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => {
            let _ = axum::serve(l, app).await;
        }
        Err(e) => tracing::error!(listen, error = %e, "cannot serve health and metrics"),
    }
}

