//! The admin HTTP server: `/metrics` (Prometheus), `/healthz`, `/version`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::wiring::Shared;

/// Serves until the returned task is aborted. Returns the bound address
/// (useful with port 0).
pub async fn serve(
    listen: &str,
    shared: Shared,
) -> anyhow::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/version", get(version))
        .with_state(Arc::new(shared));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "admin server stopped");
        }
    });
    Ok((addr, task))
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.metrics.render(),
    )
}

async fn version(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let rules = shared.rules.load();
    let model = shared.models.champion.load_full().map(|m| m.label.clone());
    axum::Json(serde_json::json!({
        "verdict": env!("CARGO_PKG_VERSION"),
        "rules_version": rules.version(),
        "model": model,
    }))
}
