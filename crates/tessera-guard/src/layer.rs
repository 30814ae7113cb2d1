//! The tower layer: puts the [`Guard`] in each request's extensions for the extractors, and,
//! when [`GuardLayer::required`], refuses every request that does not authenticate.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::guard::Guard;

/// The layer of [`Guard::layer`].
#[derive(Clone, Debug)]
pub struct GuardLayer {
    guard: Guard,
    required: bool,
}

impl GuardLayer {
    pub(crate) fn new(guard: Guard) -> Self {
        Self {
            guard,
            required: false,
        }
    }

    /// Authenticates every request before the inner service sees it and refuses those that
    /// fail (401/503 problem+json); the [`CurrentUser`](crate::CurrentUser) is then in the
    /// request's extensions. Without this, only handlers that take an extractor authenticate.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: self.guard.clone(),
            required: self.required,
        }
    }
}

/// The service of [`GuardLayer`].
#[derive(Clone, Debug)]
pub struct GuardService<S> {
    inner: S,
    guard: Guard,
    required: bool,
}

impl<S> Service<Request> for GuardService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let guard = self.guard.clone();
        let required = self.required;
        // The clone that was made ready is the one that serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            if required {
                match guard.authenticate(request.headers()).await {
                    Ok(user) => {
                        request.extensions_mut().insert(user);
                    }
                    Err(e) => return Ok(e.into_response()),
                }
            }
            request.extensions_mut().insert(guard);
            inner.call(request).await
        })
    }
}
