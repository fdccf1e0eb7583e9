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
struct ModelRequest {
    /// A model directory to load.
    dir: Option<PathBuf>,
}

/// The body of a model route: nothing, or `{"dir": "..."}`; what is wrong
/// with it otherwise (a 400).
fn model_request(body: &Bytes) -> Result<ModelRequest, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ModelRequest { dir: None });
    }
    serde_json::from_slice::<ModelRequest>(body)
        .map_err(|e| format!("body: {e}; expected {{\"dir\": \"/path/to/model\"}} or nothing"))
}

fn bad_request(error: String) -> Response {
    answer(StatusCode::BAD_REQUEST, json!({ "error": error }))
}

fn running(admin: &Admin) -> (Option<String>, Option<String>) {
    let label = |m: Option<Arc<crate::pipeline::LoadedModel>>| m.map(|m| m.label.clone());
    (
        label(admin.dataflow.models.champion()),
        label(admin.dataflow.models.challenger()),
    )
}

/// `POST /v1/models/promote`: with no body, the loaded challenger becomes
/// the champion; with `{"dir": "..."}`, the model there does. Refused (and
/// the champion stays) when the model does not load or does not fit the
/// running rules.
pub async fn promote_model(State(admin): State<Arc<Admin>>, body: Bytes) -> Response {
    let request = match model_request(&body) {
        Ok(r) => r,
        Err(error) => return bad_request(error),
    };
    if request.dir.is_none() && admin.dataflow.models.challenger().is_none() {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "no challenger is loaded: give {\"dir\": ...}, load one (POST /v1/models/challenger) or configure model.challenger"}),
        );
    }
    let dataflow = admin.dataflow.clone();
    let shown = request
        .dir
        .as_ref()
        .map_or_else(|| "the challenger".to_string(), |d| d.display().to_string());
    let outcome = tokio::task::spawn_blocking(move || match &request.dir {
        Some(dir) => dataflow.promote(dir),
        None => dataflow.promote_challenger(),
    })
    .await;
    let (champion, challenger) = running(&admin);
    match outcome {
        Ok(Ok(promoted)) => {
            tracing::info!(champion = %promoted, from = %shown, "model promoted to champion");
            answer(
                StatusCode::OK,
                json!({"result": "promoted", "champion": promoted, "challenger": challenger}),
            )
        }
        Ok(Err(reason)) => {
            tracing::error!(from = %shown, %reason, "model promotion refused; the champion stays");
            answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"result": "refused", "reason": reason, "champion": champion, "challenger": challenger}),
            )
        }
        Err(e) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": format!("promotion task: {e}")}),
        ),
    }
}

/// `POST /v1/models/challenger` with `{"dir": "..."}`: load the model there
/// as the challenger (it scores every event beside the champion and never
/// acts). Refused and counted, with the running challenger kept, when it
/// does not load or does not fit the running rules.
pub async fn load_challenger(State(admin): State<Arc<Admin>>, body: Bytes) -> Response {
    let dir = match model_request(&body) {
        Ok(ModelRequest { dir: Some(dir) }) => dir,
        Ok(ModelRequest { dir: None }) => {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"error": "give the challenger's directory: {\"dir\": \"/path/to/model\"}"}),
            );
        }
        Err(error) => return bad_request(error),
    };
    let dataflow = admin.dataflow.clone();
    let shown = dir.display().to_string();
    let outcome = tokio::task::spawn_blocking(move || dataflow.load_challenger(&dir)).await;
    let (champion, challenger) = running(&admin);
    match outcome {
        Ok(Ok(loaded)) => {
            tracing::info!(challenger = %loaded, dir = %shown, "challenger loaded");
            answer(
                StatusCode::OK,
                json!({"result": "loaded", "champion": champion, "challenger": loaded}),
            )
        }
        Ok(Err(reason)) => {
            tracing::error!(dir = %shown, %reason, "challenger refused; the running one stays");
            answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"result": "refused", "reason": reason, "champion": champion, "challenger": challenger}),
            )
        }
        Err(e) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": format!("challenger task: {e}")}),
        ),
    }
}
