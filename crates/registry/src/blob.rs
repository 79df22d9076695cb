//! [`BlobStream`]: a blob's bytes as they arrive, never held whole in memory, and
//! [`BlobReader`], a blocking `Read` over it for the image crate's unpack thread.

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::error::{Error, RequestError};
use crate::manifest;
use crate::transport::Body;

/// Chunks buffered between the network task and a [`BlobReader`]; with hyper's reads of at
/// most a few hundred KiB this bounds the memory of one download to a few MiB.
const READER_CHANNEL_CHUNKS: usize = 16;

/// A blob being downloaded. Yields `Bytes` chunks; ends with an error if the body is cut
/// short, stalls, or runs past the descriptor's size (and, with [`Self::verify_digest`],
/// if its digest is wrong).
pub struct BlobStream {
    body: Body,
    content_length: Option<u64>,
    expected_size: u64,
    received: u64,
    verifier: Option<ring::digest::Context>,
    done: bool,
    ctx: BlobContext,
    handle: Handle,
}

impl std::fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStream")
            .field("digest", &self.ctx.digest)
            .field("expected_size", &self.expected_size)
            .field("received", &self.received)
            .field("verify", &self.verifier.is_some())
            .finish_non_exhaustive()
    }
}

/// What a blob error names.
#[derive(Debug, Clone)]
pub(crate) struct BlobContext {
    pub(crate) reference: String,
    pub(crate) digest: oci_spec::image::Digest,
    pub(crate) url: String,
}

impl BlobStream {
    pub(crate) fn new(
        body: Body,
        content_length: Option<u64>,
        expected_size: u64,
        ctx: BlobContext,
    ) -> Self {
        let handle = Handle::current();
        let (received, verifier, done) = (0, None, false);
        Self { body, content_length, expected_size, received, verifier, done, ctx, handle }
    }

    /// The size the registry announced (Content-Length), if it did.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// The size the descriptor declares; the stream fails unless exactly this many bytes come.
    pub fn expected_size(&self) -> u64 {
        self.expected_size
    }

    /// Also hash the bytes and fail at the end if they do not match the descriptor's digest.
    /// Off by default: the image store verifies while it ingests, and hashing twice costs.
    pub fn verify_digest(mut self) -> Self {
        self.verifier = manifest::hasher(self.ctx.digest.algorithm());
        self
    }

    /// The next chunk; `Ok(None)` once the whole blob (all `expected_size` bytes) arrived.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await.transpose()
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let polled = match self.body.poll_chunk(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(p) => p,
        };
        let result = match polled {
            Some(Ok(chunk)) => self.account(chunk),
            Some(Err(e)) => Err(e),
            None => return Poll::Ready(self.finish().err().map(Err)),
        };
        if result.is_err() {
            self.done = true;
        }
        Poll::Ready(Some(result.map_err(|e| self.error(e))))
    }

    fn account(&mut self, chunk: Bytes) -> Result<Bytes, RequestError> {
        self.received += chunk.len() as u64;
        if self.received > self.expected_size {
            return Err(RequestError::TooLarge { limit: self.expected_size });
        }
        if let Some(v) = &mut self.verifier {
            v.update(&chunk);
        }
        Ok(chunk)
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.done = true;
        if self.received < self.expected_size {
            let cut = RequestError::Truncated { got: self.received, expected: self.expected_size };
            return Err(self.error(cut));
        }
        if let Some(v) = self.verifier.take() {
            let actual = manifest::finish(self.ctx.digest.algorithm(), v);
            if actual != self.ctx.digest.to_string() {
                return Err(Error::DigestMismatch {
                    what: "blob",
                    reference: self.ctx.reference.clone(),
                    expected: self.ctx.digest.to_string(),
                    actual,
                });
            }
        }
        Ok(())
    }

    fn error(&self, source: RequestError) -> Error {
        Error::FetchBlob {
            reference: self.ctx.reference.clone(),
            digest: self.ctx.digest.to_string(),
            url: self.ctx.url.clone(),
            source,
        }
    }

    /// A blocking reader over this stream for a thread outside the async runtime (e.g. in
    /// `spawn_blocking`): a task on the runtime the stream was fetched on moves chunks into a
    /// bounded channel, so a slow reader slows the download instead of filling memory.
    /// Reading on a runtime worker thread panics (tokio forbids blocking there).
    ///
    /// Errors come back as `io::Error` whose inner error is the crate's [`Error`]
    /// (`UnexpectedEof` for a cut body, `TimedOut` for a stall, `InvalidData` for a digest).
    pub fn into_reader(mut self) -> BlobReader {
        let (tx, rx) = mpsc::channel(READER_CHANNEL_CHUNKS);
        let handle = self.handle.clone();
        handle.spawn(async move {
            loop {
                let item = self.next_chunk().await.transpose();
                let last = !matches!(item, Some(Ok(_)));
                // A closed channel means the reader was dropped: stop downloading.
                if let Some(item) = item {
                    if tx.send(item).await.is_err() {
                        break;
                    }
                }
                if last {
                    break;
                }
            }
        });
        BlobReader { rx, current: Bytes::new() }
    }
}

impl futures_core::Stream for BlobStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_chunk(cx)
    }
}

/// Blocking `Read` over a [`BlobStream`]; see [`BlobStream::into_reader`].
#[derive(Debug)]
pub struct BlobReader {
    rx: mpsc::Receiver<Result<Bytes, Error>>,
    current: Bytes,
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(to_io(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

fn to_io(e: Error) -> io::Error {
    let kind = match &e {
        Error::FetchBlob { source: RequestError::Truncated { .. }, .. } => {
            io::ErrorKind::UnexpectedEof
        }
        Error::FetchBlob { source: RequestError::Stalled(_), .. } => io::ErrorKind::TimedOut,
        Error::DigestMismatch { .. } => io::ErrorKind::InvalidData,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}
