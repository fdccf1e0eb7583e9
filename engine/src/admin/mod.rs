//! The admin HTTP API (axum).
//!
//! | route | what | auth |
//! |---|---|---|
//! | `GET /metrics` | Prometheus exposition | — |
//! | `GET /healthz` | 200 while no partition has failed, else 503 | — |
//! | `GET /readyz` | 200 once the assignment is in and every assigned partition's state is restored, else 503 | — |
//! | `GET /version` | engine, rule-set and model versions | — |
//! | `GET /v1/status` | versions, readiness, partitions with lag, watermark, offsets and restore phase | — |
//! | `GET /v1/decisions/{transaction_id}` | a recent decision with its rules and reasons | — |
//! | `POST /v1/rules/reload` | recompile the rules directory now; a set that does not compile never replaces the running one | bearer |
//! | `POST /v1/models/challenger` | load the model in `{"dir": …}` as the challenger (scores beside the champion, never acts) if it fits the rules | bearer |
//! | `POST /v1/models/promote` | make the challenger (or the model in `{"dir": …}`) the champion if it fits the rules | bearer |
//!
//! The server binds loopback unless `admin.listen` says otherwise. Mutating
//! routes need `Authorization: Bearer <admin.token>` (see `auth.rs`); with
//! no token configured they answer 403. Every request is logged (method,
//! route, status, time, peer) and counted in `verdict_admin_requests_total`;
//! no header or body is ever logged.

mod auth;
mod control;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use verdict_rules::reload::RuleSetReloader;

use crate::dataflow::Dataflow;
use crate::recent::RecentDecisions;
use crate::status::EngineStatus;

pub use auth::Token;

/// What the admin API reads and acts on.
#[derive(Clone)]
pub struct Admin {
    pub dataflow: Dataflow,
    pub status: Arc<EngineStatus>,
    pub decisions: Arc<RecentDecisions>,
    /// The watched rules directory's reloader; `None` when the rule set is
    /// fixed (the demo), and reloading answers 409.
    pub rules: Option<Arc<RuleSetReloader>>,
    pub token: Option<Token>,
}

/// Serves until the returned task is aborted. Returns the bound address
/// (useful with port 0).
pub async fn serve(
    listen: &str,
    admin: Admin,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let state = Arc::new(admin);
    let mutating = Router::new()
        .route("/v1/rules/reload", post(control::reload_rules))
        .route("/v1/models/promote", post(control::promote_model))
        .route("/v1/models/challenger", post(control::load_challenger))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            auth::require_token,
        ));
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/version", get(version))
        .route("/v1/status", get(status))
        .route("/v1/decisions/{transaction_id}", get(decision))
        .merge(mutating)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            log_request,
        ))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, service).await {
            tracing::error!(error = %e, "admin server stopped");
        }
    });
    Ok((addr, task))
}

type Shared = State<Arc<Admin>>;

/// Logs and counts every request, by its route template (never the raw
/// path, which may hold a transaction id; never a header, which may hold
/// the token).
async fn log_request(State(admin): Shared, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let response = next.run(request).await;
    let status = response.status();
    admin
        .dataflow
        .metrics
        .ops
        .admin_requests
        .with_label_values(&[&route, status.as_str()])
        .inc();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    if route == "/metrics" {
        tracing::debug!(%method, %route, status = status.as_u16(), elapsed_ms, ?peer, "admin request");
    } else {
        tracing::info!(%method, %route, status = status.as_u16(), elapsed_ms, ?peer, "admin request");
    }
    response
}

async fn metrics(State(admin): Shared) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        admin.dataflow.metrics.render(),
    )
}

async fn healthz(State(admin): Shared) -> Response {
    if admin.status.is_healthy() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        let failures = admin.status.snapshot().failures;
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "healthy": false, "failures": failures })),
        )
            .into_response()
    }
}

async fn readyz(State(admin): Shared) -> Response {
    let snap = admin.status.snapshot();
    if snap.ready {
        return (StatusCode::OK, "ready\n").into_response();
    }
    let why = if !snap.healthy {
        "a partition failed".to_string()
    } else if !snap.assigned {
        "waiting for the group's assignment".to_string()
    } else {
        format!("{} partition(s) restoring state", snap.partitions_restoring)
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("not ready: {why}\n"),
    )
        .into_response()
}

fn versions(admin: &Admin) -> serde_json::Value {
    let label = |m: Option<Arc<crate::pipeline::LoadedModel>>| m.map(|m| m.label.clone());
    serde_json::json!({
        "verdict": env!("CARGO_PKG_VERSION"),
        "rules_version": admin.dataflow.rules.load().version(),
        "model": label(admin.dataflow.models.champion()),
        "challenger": label(admin.dataflow.models.challenger()),
    })
}

async fn version(State(admin): Shared) -> impl IntoResponse {
    axum::Json(versions(&admin))
}

async fn status(State(admin): Shared) -> impl IntoResponse {
    let mut body = versions(&admin);
    let snap = serde_json::to_value(admin.status.snapshot()).unwrap_or_default();
    if let (Some(body), Some(snap)) = (body.as_object_mut(), snap.as_object()) {
        body.extend(snap.clone());
        body.insert(
            "recent_decisions".into(),
            serde_json::json!(admin.decisions.len()),
        );
    }
    axum::Json(body)
}

async fn decision(State(admin): Shared, Path(transaction_id): Path<String>) -> Response {
    match admin.decisions.get(&transaction_id) {
        Some(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({
                "error": "no recent decision for this transaction id (unknown, or older than the admin.recent-decisions newest)"
            })),
        )
            .into_response(),
    }
}
