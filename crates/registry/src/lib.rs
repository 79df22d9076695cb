//! berth's OCI distribution (registry) client: references, authentication, manifest and
//! index resolution with digest verification, streaming blob downloads, and pushes.
//!
//! Async on tokio (the only crates with tokio are this one and the engine, STYLE B1).
//! The image store is synchronous: [`BlobStream::into_reader`] hands it a blocking
//! [`std::io::Read`] fed through a bounded channel.
//!
//! ```no_run
//! # async fn pull() -> Result<(), Box<dyn std::error::Error>> {
//! use berth_registry::{Client, ClientConfig, Platform, Reference};
//! let client = Client::new(ClientConfig {
//!     auth_files: berth_registry::auth::default_auth_files(),
//!     ..ClientConfig::default()
//! });
//! let reference = Reference::parse("busybox:1.36")?;
//! let image = client.resolve(&reference, &Platform::host()).await?;
//! let config = client.fetch_blob_bytes(&reference, &image.config).await?;
//! for layer in &image.layers {
//!     let reader = client.fetch_blob(&reference, layer).await?.into_reader();
//!     // hand `reader` to a blocking thread that unpacks it
//! #   drop(reader);
//! }
//! # drop(config); Ok(()) }
//! ```
//!
//! # Layout
//! - [`reference`](mod@reference): `Reference::parse`, Docker's normalisation, `Display` round trip.
//! - [`platform`]: `os/arch/variant`, choosing a manifest from an index.
//! - `client`: [`Client`] (`resolve`, `fetch_blob`, `login`, `logout`).
//! - `endpoint`: mirrors, then the registry; https then http for unverified-TLS registries;
//!   failures kept and endpoints that never answered skipped.
//! - `manifest`: media types, classification, digests; [`Resolved`].
//! - `blob`: [`BlobStream`] and [`BlobReader`].
//! - `upload`: pushing: [`Client::push_blob`] (HEAD, cross-repository mount, monolithic or
//!   chunked upload) and [`Client::push_manifest`].
//! - [`auth`]: challenges, tokens (GET and OAuth2 POST) and their cache, auth files.
//! - `transport`: hyper HTTP/1.1 over TCP or rustls with a keep-alive pool, per-host TLS
//!   (system roots + `certs.d`), retries with backoff and Retry-After, redirects, timeouts.
//! - [`config`]: [`ClientConfig`]; `error`: [`Error`] (the operation) and [`RequestError`]
//!   (what happened on the wire).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
mod base64;
mod blob;
mod client;
pub mod config;
mod endpoint;
mod error;
mod manifest;
pub mod platform;
pub mod reference;
mod transport;
mod upload;

pub use auth::Credentials;
pub use blob::{BlobReader, BlobStream};
pub use client::Client;
pub use config::{ClientConfig, Mirror, Retries, Timeouts};
pub use error::{BlobStep, Error, RequestError};
pub use manifest::{Resolved, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
pub use oci_spec::image::{Descriptor, Digest};
pub use platform::Platform;
pub use reference::Reference;
pub use upload::{BlobPushed, CHUNK};
