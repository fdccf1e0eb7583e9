//! The admin HTTP server: `/metrics` (Prometheus), `/healthz`, `/version`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::dataflow::Dataflow;

/// Serves until the returned task is aborted. Returns the bound address
/// (useful with port 0).
pub async fn serve(
    listen: &str,
    dataflow: Dataflow,
) -> anyhow::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/version", get(version))
        .with_state(Arc::new(dataflow));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "admin server stopped");
        }
    });
    Ok((addr, task))
}

async fn metrics(State(dataflow): State<Arc<Dataflow>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        dataflow.metrics.render(),
    )
}

async fn version(State(dataflow): State<Arc<Dataflow>>) -> impl IntoResponse {
    let rules = dataflow.rules.load();
    let model = dataflow
        .models
        .champion
        .load_full()
        .map(|m| m.label.clone());
    axum::Json(serde_json::json!({
        "verdict": env!("CARGO_PKG_VERSION"),
        "rules_version": rules.version(),
        "model": model,
    }))
}
