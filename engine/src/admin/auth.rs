//! Bearer-token authentication for the mutating admin routes.
//!
//! The configured token is kept only as its BLAKE3 digest; a request's
//! token is hashed the same way and the two 32-byte digests are compared
//! in constant time (`subtle`), so neither the token's bytes nor its length
//! can be learned from response timing. Without a configured token the
//! mutating routes are closed (403): an unset secret never means "open".

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::Admin;

/// The admin token, as its digest.
#[derive(Clone)]
pub struct Token([u8; 32]);

impl Token {
    pub fn new(secret: &str) -> Token {
        Token(*blake3::hash(secret.as_bytes()).as_bytes())
    }

    /// Whether `presented` is the token, in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        let digest = blake3::hash(presented.as_bytes());
        bool::from(self.0.ct_eq(digest.as_bytes()))
    }
}

pub async fn require_token(
    State(admin): State<Arc<Admin>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &admin.token else {
        return (
            StatusCode::FORBIDDEN,
            "mutating admin routes are disabled: set admin.token (VERDICT_ADMIN__TOKEN)\n",
        )
            .into_response();
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(p) if token.matches(p.trim()) => next.run(request).await,
        _ => {
            let mut response = (
                StatusCode::UNAUTHORIZED,
                "a valid bearer token is required\n",
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        let token = Token::new("s3cret-admin-token-0001");
        assert!(token.matches("s3cret-admin-token-0001"));
        assert!(!token.matches("s3cret-admin-token-0002"));
        assert!(!token.matches("s3cret-admin-token-000"));
        assert!(!token.matches(""));
    }
}
