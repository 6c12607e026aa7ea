//! The axum application: shared store handle, routes, static assets, and [`serve`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use nas_store::{StoreError, TrialStore};
use tokio::net::TcpListener;

use crate::error::{PageError, WebError};
use crate::{api, pages};

/// The store behind the dashboard, shared by all requests; queries run on blocking threads.
#[derive(Clone)]
pub struct SharedStore(Arc<Mutex<Box<dyn TrialStore + Send>>>);

impl SharedStore {
    pub fn new(store: Box<dyn TrialStore + Send>) -> Self {
        SharedStore(Arc::new(Mutex::new(store)))
    }

    /// Run a read against the store off the async threads.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, WebError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn TrialStore) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let guard = store.lock().map_err(|_| WebError::Internal("store lock poisoned".into()))?;
            f(guard.as_ref()).map_err(WebError::from)
        })
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?
    }
}

const SCRIPT: &str = include_str!("../assets/dashboard.js");
const STYLE: &str = include_str!("../assets/style.css");

/// Every route of the dashboard.
pub fn router(store: SharedStore) -> Router {
    Router::new()
        .route("/", get(pages::experiments))
        .route("/experiments/{id}", get(pages::experiment))
        .route("/trials/{id}", get(pages::trial))
        .route("/trials/{id}/arch.svg", get(api::arch_svg))
        .route("/api/experiments", get(api::experiments))
        .route("/api/experiments/{id}", get(api::experiment))
        .route("/api/trials/{id}", get(api::trial))
        .route("/static/dashboard.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], SCRIPT) }))
        .route("/static/style.css", get(|| async { ([(header::CONTENT_TYPE, "text/css")], STYLE) }))
        .fallback(|| async { PageError(WebError::NotFound("no such page".into())).into_response() })
        .with_state(store)
}

/// Serve the dashboard on `listener` until `shutdown` resolves.
pub async fn serve(
    store: SharedStore,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(store)).with_graceful_shutdown(shutdown).await
}

/// Bind `addr`, tell `on_ready` the bound address (port 0 picks a free one), and serve until
/// Ctrl-C. Builds its own runtime, so callers need no async code.
pub fn run_blocking(store: SharedStore, addr: SocketAddr, on_ready: impl FnOnce(SocketAddr)) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        on_ready(listener.local_addr()?);
        serve(store, listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    })
}
