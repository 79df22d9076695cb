//! The stall timeout on a request body, against a raw TCP server that reads slowly.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::time::Instant;

use super::{Transport, Upload};
use crate::config::Timeouts;
use crate::error::RequestError;

/// A server that takes one request and reads its body `step` bytes every `every`, with a
/// small receive buffer so the client cannot park the whole body in the kernel at once;
/// answers 201 once it has it all. `every` of `None`: it never reads the body.
async fn slow_server(
    step: usize,
    every: Option<Duration>,
) -> (String, tokio::task::JoinHandle<()>) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener: TcpListener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            conn.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let len: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap();
        let Some(every) = every else {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        };
        let mut buf = vec![0u8; step];
        let mut got = 0;
        while got < len {
            tokio::time::sleep(every).await;
            let want = step.min(len - got);
            conn.read_exact(&mut buf[..want]).await.unwrap();
            got += want;
        }
        conn.write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n").await.unwrap();
    });
    (addr, task)
}

fn transport(stall: Duration) -> Transport {
    let tls = super::tls::TlsConfigs::new(std::env::temp_dir().join("no-certs.d"), true, vec![]);
    Transport::new(tls, Timeouts { connect: Duration::from_secs(5), stall }, "test")
}

fn put(addr: &str, len: usize) -> Request<Upload> {
    let mut req = Request::new(Upload::new(Bytes::from(vec![1u8; len])));
    *req.method_mut() = Method::PUT;
    *req.uri_mut() = format!("http://{addr}/upload").parse().unwrap();
    req.headers_mut().insert(http::header::CONTENT_LENGTH, len.into());
    req
}

#[tokio::test]
async fn a_body_that_keeps_moving_outlasts_the_stall_timeout() {
    // 32 MiB at 64 KiB per 5 ms: about 2.6 s, with a stall timeout of 1 s. The rate is high
    // enough that what the client's kernel still buffers after the last frame (its send
    // buffer grows to tcp_wmem's 4 MiB on loopback) drains well within the stall timeout:
    // progress is only seen by the frames hyper takes (progress.rs).
    let (addr, server) = slow_server(64 * 1024, Some(Duration::from_millis(5))).await;
    let start = Instant::now();
    let resp = transport(Duration::from_secs(1)).send(put(&addr, 32 << 20)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(start.elapsed() > Duration::from_secs(1), "the upload outlasted the stall timeout");
    server.await.unwrap();
}

#[tokio::test]
async fn a_body_nobody_reads_stalls() {
    let (addr, server) = slow_server(0, None).await;
    let start = Instant::now();
    let err = transport(Duration::from_millis(500)).send(put(&addr, 8 << 20)).await.unwrap_err();
    assert!(matches!(err, RequestError::Stalled(_)), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    server.abort();
}
