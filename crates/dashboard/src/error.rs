//! Request errors and how they are answered: an HTML page for pages, `{"error": …}` for the API.
//! Unknown ids are 404, malformed ids 400, store failures 500 — never a crash.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nas_store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("store error: {0}")]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Store(_) | WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Parse a numeric id from a path segment: `what` names it in the 400 message.
pub fn parse_id(what: &str, raw: &str) -> Result<i64, WebError> {
    raw.parse::<i64>()
        .ok()
        .filter(|&id| id > 0)
        .ok_or_else(|| WebError::BadRequest(format!("malformed {what} id {raw:?}: expected a positive integer")))
}

/// An error answered as an HTML page.
pub struct PageError(pub WebError);

impl From<WebError> for PageError {
    fn from(e: WebError) -> Self {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if matches!(self.0, WebError::Store(_) | WebError::Internal(_)) {
            tracing::error!("{}", self.0);
        }
        (self.0.status(), crate::pages::error_page(self.0.status(), &self.0.to_string())).into_response()
    }
}

/// An error answered as JSON.
pub struct ApiError(pub WebError);

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0.status(), Json(serde_json::json!({ "error": self.0.to_string() }))).into_response()
    }
}
