//! The mutating routes: reload the rules, promote a model. Both replace a
//! whole immutable thing behind its `ArcSwap` only when the new one is
//! good, so a bad file never replaces a running set or model; partitions
//! pick the new one up at their next batch.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use verdict_rules::reload::ReloadEvent;

use super::Admin;

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// `POST /v1/rules/reload`: recompile the rules directory now.
pub async fn reload_rules(State(admin): State<Arc<Admin>>) -> Response {
    let Some(reloader) = admin.rules.clone() else {
        return answer(
            StatusCode::CONFLICT,
            json!({"error": "this engine runs a fixed rule set (no watched rules directory)"}),
        );
    };
    // Compiling reads files: off the async scheduler. The reloader's
    // listener logs the outcome and counts it (`reload.rs`).
    let event = match tokio::task::spawn_blocking(move || reloader.reload()).await {
        Ok(event) => event,
        Err(e) => {
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": format!("reload task: {e}")}),
            );
        }
    };
    match event {
        ReloadEvent::Swapped {
            old_version,
            new_version,
        } => answer(
            StatusCode::OK,
            json!({"result": "swapped", "old_version": old_version, "new_version": new_version}),
        ),
        ReloadEvent::Unchanged { version } => answer(
            StatusCode::OK,
            json!({"result": "unchanged", "version": version}),
        ),
        ReloadEvent::Failed {
            running_version,
            diagnostics,
        } => answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({
                "result": "failed",
                "running_version": running_version,
                "diagnostics": diagnostics.render(),
            }),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PromoteRequest {
    /// The model directory to promote (default: `model.challenger`).
    dir: Option<PathBuf>,
}

/// `POST /v1/models/promote` with an optional `{"dir": "..."}` body.
pub async fn promote_model(State(admin): State<Arc<Admin>>, body: Bytes) -> Response {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        PromoteRequest { dir: None }
    } else {
        match serde_json::from_slice::<PromoteRequest>(&body) {
            Ok(r) => r,
            Err(e) => {
                return answer(
                    StatusCode::BAD_REQUEST,
                    json!({"error": format!("body: {e}; expected {{\"dir\": \"/path/to/model\"}} or nothing")}),
                );
            }
        }
    };
    let Some(dir) = request.dir.or_else(|| admin.challenger.clone()) else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "no model to promote: give {\"dir\": ...} or configure model.challenger"}),
        );
    };
    let dataflow = admin.dataflow.clone();
    let shown = dir.display().to_string();
    let outcome = tokio::task::spawn_blocking(move || dataflow.promote(&dir)).await;
    match outcome {
        Ok(Ok(champion)) => {
            tracing::info!(%champion, dir = %shown, "model promoted to champion");
            answer(
                StatusCode::OK,
                json!({"result": "promoted", "champion": champion}),
            )
        }
        Ok(Err(reason)) => {
            let running = admin
                .dataflow
                .models
                .champion
                .load_full()
                .map(|m| m.label.clone());
            tracing::error!(dir = %shown, %reason, "model promotion refused; the champion stays");
            answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"result": "refused", "reason": reason, "champion": running}),
            )
        }
        Err(e) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": format!("promotion task: {e}")}),
        ),
    }
}
