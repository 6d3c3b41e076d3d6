//! A client-side token bucket for API requests, as client-go's `--kube-api-qps` and
//! `--kube-api-burst`: up to `burst` requests at once, then `qps` per second.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The token bucket shared by every request of one client.
#[derive(Clone)]
pub struct RateLimitLayer {
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl RateLimitLayer {
    /// `qps` requests per second after a burst of `burst`; `None` when `qps` is not positive
    /// (no limit).
    pub fn new(qps: f32, burst: u32) -> Option<Self> {
        if qps <= 0.0 || !qps.is_finite() {
            return None;
        }
        let period = Duration::from_secs_f64(1.0 / f64::from(qps));
        let burst = NonZeroU32::new(burst.max(1)).expect("at least one");
        let quota = Quota::with_period(period)?.allow_burst(burst);
        Some(RateLimitLayer {
            limiter: Arc::new(RateLimiter::direct(quota)),
        })
    }
}

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimited<S>;

    fn layer(&self, inner: S) -> RateLimited<S> {
        RateLimited {
            inner,
            limiter: self.limiter.clone(),
            waiting: None,
            permitted: false,
        }
    }
}

/// A service that is ready only when the bucket has a token for its next request.
pub struct RateLimited<S> {
    inner: S,
    limiter: Arc<DefaultDirectRateLimiter>,
    waiting: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    permitted: bool,
}

impl<S, R> tower::Service<R> for RateLimited<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        if !self.permitted {
            if self.waiting.is_none() && self.limiter.check().is_ok() {
                self.permitted = true;
            } else {
                let limiter = self.limiter.clone();
                let wait = self
                    .waiting
                    .get_or_insert_with(|| Box::pin(async move { limiter.until_ready().await }));
                ready!(wait.as_mut().poll(cx));
                self.waiting = None;
                self.permitted = true;
            }
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> S::Future {
        self.permitted = false;
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer, Service, ServiceExt};

    fn echo() -> impl Service<u32, Response = u32, Error = std::convert::Infallible> {
        tower::service_fn(|n: u32| async move { Ok(n) })
    }

    #[tokio::test]
    async fn a_burst_passes_then_the_bucket_is_empty() {
        // One token per 1,000 s: after the burst of 3, the fourth request must wait.
        let layer = RateLimitLayer::new(0.001, 3).unwrap();
        let mut service = layer.layer(echo());
        for n in 0..3 {
            assert_eq!(service.ready().await.unwrap().call(n).await.unwrap(), n);
        }
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(service.poll_ready(&mut cx).is_pending());
    }

    #[tokio::test]
    async fn services_of_one_layer_share_the_bucket() {
        let layer = RateLimitLayer::new(0.001, 2).unwrap();
        let mut first = layer.layer(echo());
        let mut second = layer.layer(echo());
        first.ready().await.unwrap().call(1).await.unwrap();
        second.ready().await.unwrap().call(2).await.unwrap();
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(first.poll_ready(&mut cx).is_pending());
        assert!(second.poll_ready(&mut cx).is_pending());
    }

    #[tokio::test]
    async fn tokens_come_back_at_the_rate() {
        // 1,000 per second: a burst of 1 refills within milliseconds.
        let layer = RateLimitLayer::new(1000.0, 1).unwrap();
        let mut service = layer.layer(echo());
        for n in 0..5 {
            assert_eq!(service.ready().await.unwrap().call(n).await.unwrap(), n);
        }
    }

    #[test]
    fn zero_or_negative_qps_means_no_limit() {
        assert!(RateLimitLayer::new(0.0, 30).is_none());
        assert!(RateLimitLayer::new(-1.0, 30).is_none());
        assert!(RateLimitLayer::new(20.0, 0).is_some());
    }
}
