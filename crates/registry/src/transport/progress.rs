//! A request body handed to hyper in small frames, each one marking progress, so the stall
//! timeout of a request measures time without progress, not the whole upload.
//!
//! With one frame for the whole body, the only events a request had were "sent" and "the
//! response's headers arrived", so a fixed timeout had to cover the upload of the whole body:
//! an 8 MiB push chunk needed 140 KB/s to fit in the default 60 s. hyper asks for the next
//! frame when its write buffer has room, that is as the socket drains, so the time of the
//! last frame taken is the time of the last progress. After the last frame, what the
//! kernel still buffers drains within the same stall allowance.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::time::{timeout, Instant};

/// Bytes per frame: small enough that a frame is taken every few seconds even on a slow
/// link, large enough that a fast one is not slowed by it.
const FRAME: usize = 64 * 1024;

/// When a request last made progress; shared between its body and the sender's watchdog.
#[derive(Debug, Clone)]
pub(crate) struct Progress(Arc<Mutex<Instant>>);

impl Progress {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(Instant::now())))
    }

    /// Marks progress now.
    fn touch(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn last(&self) -> Instant {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `fut` until it completes, or until `stall` passes without progress.
    pub(crate) async fn watch<F: Future>(&self, stall: Duration, fut: F) -> Result<F::Output, ()> {
        self.touch();
        let mut fut = std::pin::pin!(fut);
        loop {
            let left = (self.last() + stall).saturating_duration_since(Instant::now());
            match timeout(left, fut.as_mut()).await {
                Ok(out) => return Ok(out),
                Err(_) if self.last().elapsed() >= stall => return Err(()),
                Err(_) => {}
            }
        }
    }
}

/// A request body from memory, given out [`FRAME`] bytes at a time.
#[derive(Debug)]
pub(crate) struct Upload {
    rest: Bytes,
    progress: Progress,
}

impl Upload {
    pub(crate) fn new(body: Bytes) -> Self {
        Self { rest: body, progress: Progress::new() }
    }

    /// The handle the sender watches.
    pub(crate) fn progress(&self) -> Progress {
        self.progress.clone()
    }
}

impl http_body::Body for Upload {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.rest.is_empty() {
            return Poll::Ready(None);
        }
        let n = self.rest.len().min(FRAME);
        let frame = self.rest.split_to(n);
        self.progress.touch();
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn frames_cover_the_body_and_mark_progress() {
        let body = Bytes::from(vec![7u8; FRAME * 2 + 5]);
        let up = Upload::new(body.clone());
        let progress = up.progress();
        let before = progress.last();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let got = up.collect().await.unwrap().to_bytes();
        assert_eq!(got, body);
        assert!(progress.last() > before);
    }

    #[tokio::test]
    async fn watch_fails_only_without_progress() {
        let p = Progress::new();
        let stall = Duration::from_millis(200);
        // Progress every 100 ms for 600 ms: longer than the stall, never stalled.
        let ticking = {
            let p = p.clone();
            async move {
                for _ in 0..6 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    p.touch();
                }
            }
        };
        assert!(p.watch(stall, ticking).await.is_ok());
        let silent = tokio::time::sleep(Duration::from_secs(5));
        let start = Instant::now();
        assert!(p.watch(stall, silent).await.is_err());
        assert!(start.elapsed() < Duration::from_secs(1));
    }
}
