//! The streaming half of layer ingest: the read → hash → store → inflate → hash loop on the
//! calling thread, and the channel that feeds the unpack thread.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender};

use crate::digest::{Digest, Digester};
use crate::ingest::{check_not_too_long, read_some, verify, Compression, IngestError, LayerDesc};

/// Bytes handed to the unpack thread at a time.
pub(crate) const CHUNK: usize = 256 * 1024;

/// Reads the compressed stream once: hash, store, inflate, hash the tar, hand it on.
pub(crate) fn pump(
    mut reader: impl Read,
    desc: &LayerDesc,
    compression: Compression,
    mut blob: Option<&mut File>,
    blob_path: &Path,
    sink: TarSink,
) -> Result<(Digester, Digester), IngestError> {
    let layer = &desc.digest;
    let limit = sink.limit;
    let dec_err = |source: io::Error| {
        if source.get_ref().is_some_and(|e| e.is::<OverLimit>()) {
            IngestError::InflateLimit { layer: layer.clone(), limit }
        } else {
            IngestError::Decompress { layer: layer.clone(), source }
        }
    };
    let mut decoder = Decoder::new(compression, sink).map_err(dec_err)?;
    let mut compressed = Digester::new(layer.algorithm());
    let mut buf = vec![0u8; CHUNK];
    let mut inflate_failed = None;
    loop {
        let n = read_some(&mut reader, &mut buf, layer)?;
        if n == 0 {
            break;
        }
        compressed.update(&buf[..n]);
        check_not_too_long(layer, Some(desc.size), compressed.len())?;
        if let Some(f) = blob.as_mut() {
            f.write_all(&buf[..n]).map_err(|source| IngestError::Write {
                digest: layer.clone(),
                path: blob_path.to_owned(),
                source,
            })?;
        }
        // After a decode error keep hashing: a digest mismatch explains a corrupt stream
        // better than the decoder's message, and is reported first.
        if inflate_failed.is_none() {
            if let Err(e) = decoder.write_all(&buf[..n]) {
                inflate_failed = Some(e);
            }
        }
    }
    let finished = match inflate_failed {
        Some(e) => Err(e),
        None => decoder.finish(),
    };
    match finished {
        Ok(mut sink) => {
            sink.flush_pending();
            Ok((compressed, sink.digester))
        }
        Err(e) => {
            verify(layer, Some(desc.size), compressed)?;
            Err(dec_err(e))
        }
    }
}

enum Decoder {
    None(Box<TarSink>),
    Gzip(Box<flate2::write::MultiGzDecoder<TarSink>>),
    Zstd(Box<zstd::stream::write::Decoder<'static, TarSink>>),
}

impl Decoder {
    fn new(c: Compression, sink: TarSink) -> io::Result<Decoder> {
        Ok(match c {
            Compression::None => Decoder::None(Box::new(sink)),
            Compression::Gzip => Decoder::Gzip(Box::new(flate2::write::MultiGzDecoder::new(sink))),
            Compression::Zstd => Decoder::Zstd(Box::new(zstd::stream::write::Decoder::new(sink)?)),
        })
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Decoder::None(s) => s.write_all(buf),
            Decoder::Gzip(d) => d.write_all(buf),
            Decoder::Zstd(d) => d.write_all(buf),
        }
    }

    fn finish(self) -> io::Result<TarSink> {
        match self {
            Decoder::None(s) => Ok(*s),
            Decoder::Gzip(d) => d.finish(),
            Decoder::Zstd(mut d) => {
                d.flush()?;
                Ok(d.into_inner())
            }
        }
    }
}

/// Receives inflated bytes: hashes them (diff id) and forwards them in CHUNK-sized pieces.
pub(crate) struct TarSink {
    digester: Digester,
    /// `None` once the unpack thread stopped reading (end of archive or an error).
    tx: Option<SyncSender<Vec<u8>>>,
    pending: Vec<u8>,
    /// Inflated bytes allowed; past it a write fails with [`OverLimit`]. Bounds the time and
    /// hashing a decompression bomb costs, also for data after the tar's end marker, which
    /// the unpacker never reads.
    limit: u64,
}

/// The marker error of a [`TarSink`] past its limit (the decoder wraps it in an io::Error).
#[derive(Debug, thiserror::Error)]
#[error("inflated stream past its limit")]
struct OverLimit;

impl TarSink {
    /// A sink hashing with `diff_id`'s algorithm and feeding `tx`, at most `limit` bytes.
    pub(crate) fn new(diff_id: &Digest, tx: SyncSender<Vec<u8>>, limit: u64) -> TarSink {
        TarSink {
            digester: Digester::new(diff_id.algorithm()),
            tx: Some(tx),
            pending: Vec::with_capacity(CHUNK),
            limit,
        }
    }

    fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK));
        if let Some(tx) = &self.tx {
            if tx.send(chunk).is_err() {
                self.tx = None;
            }
        }
    }
}

impl Write for TarSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.digester.len().saturating_add(buf.len() as u64) > self.limit {
            return Err(io::Error::other(OverLimit));
        }
        self.digester.update(buf);
        if self.tx.is_some() {
            self.pending.extend_from_slice(buf);
            if self.pending.len() >= CHUNK {
                self.flush_pending();
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The unpack thread's view of the channel as a byte stream; EOF when the sender is gone.
pub(crate) struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl ChannelReader {
    pub(crate) fn new(rx: Receiver<Vec<u8>>) -> ChannelReader {
        ChannelReader { rx, cur: Vec::new(), pos: 0 }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
