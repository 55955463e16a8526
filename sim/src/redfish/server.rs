//! Serving: one TLS listener per simulated service, each with its own
//! self-signed certificate (rustls, or OpenSSL for old iDRACs' weak keys
//! and TLS 1.0), HTTP/1.1 through hyper. While an iDRAC resets
//! it drops connections; while it starts up again it answers 503.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::device::{Availability, Device};
use super::routes::{self, MAX_UPLOAD, header_value};
use super::spec::{IdracSpec, TlsProfile};

/// How connections are accepted: rustls, or OpenSSL for old iDRACs.
#[derive(Clone)]
enum Acceptor {
    Rustls(Arc<rustls::ServerConfig>),
    Openssl(openssl::ssl::SslContext),
}

/// A device's TLS identity; replaceable to simulate a swapped board.
pub struct Identity {
    profile: TlsProfile,
    config: Mutex<Acceptor>,
    fingerprint: Mutex<String>,
    /// Bumped on every rotation: an iDRAC restarts its web server for a
    /// new certificate, so open connections are closed and every client
    /// sees the new certificate on its next request.
    generation: tokio::sync::watch::Sender<u64>,
}

impl Identity {
    fn generate(name: &str, profile: TlsProfile) -> Result<(Acceptor, String), String> {
        if profile != TlsProfile::Modern {
            let (ctx, der) = super::legacy_tls::context(name, profile)?;
            return Ok((Acceptor::Openssl(ctx), fingerprint(&der)));
        }
        let ck = rcgen::generate_simple_self_signed(vec![name.to_string()])
            .map_err(|e| e.to_string())?;
        let der: CertificateDer<'static> = ck.cert.der().clone();
        let fp = fingerprint(der.as_ref());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .map_err(|e| e.to_string())?;
        Ok((Acceptor::Rustls(Arc::new(cfg)), fp))
    }

    pub fn new(name: &str, profile: TlsProfile) -> Result<Identity, String> {
        let (cfg, fp) = Self::generate(name, profile)?;
        Ok(Identity {
            profile,
            config: Mutex::new(cfg),
            fingerprint: Mutex::new(fp),
            generation: tokio::sync::watch::Sender::new(0),
        })
    }

    pub fn fingerprint(&self) -> String {
        self.fingerprint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A new certificate and key, as after a motherboard replacement.
    pub fn rotate(&self, name: &str) -> Result<(), String> {
        let (cfg, fp) = Self::generate(name, self.profile)?;
        *self.config.lock().unwrap_or_else(|e| e.into_inner()) = cfg;
        *self.fingerprint.lock().unwrap_or_else(|e| e.into_inner()) = fp;
        self.generation.send_modify(|g| *g += 1);
        Ok(())
    }

    fn config(&self) -> Acceptor {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// SHA-256 of a DER certificate, lowercase hex.
fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A running service: its device, TLS identity and bound address.
pub struct Served {
    pub device: Arc<Device>,
    pub identity: Arc<Identity>,
    pub addr: SocketAddr,
}

/// Binds every listener and starts serving.
pub async fn start(
    specs: Vec<IdracSpec>,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
) -> Result<Vec<Served>, super::SimError> {
    let mut out = Vec::with_capacity(specs.len());
    let mut seen = HashMap::new();
    for mut spec in specs {
        if seen.insert(spec.listen, ()).is_some() && spec.listen.port() != 0 {
            return Err(super::SimError::Duplicate(spec.listen));
        }
        let listener = TcpListener::bind(spec.listen)
            .await
            .map_err(|e| super::SimError::Bind(spec.listen, e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| super::SimError::Bind(spec.listen, e.to_string()))?;
        spec.listen = addr;
        let identity = Arc::new(
            Identity::new(&format!("idrac-{}", spec.service_tag), spec.tls)
                .map_err(super::SimError::Certificate)?,
        );
        let device = Device::new(spec);
        tracker.spawn(accept_loop(
            listener,
            device.clone(),
            identity.clone(),
            cancel.clone(),
            tracker.clone(),
        ));
        out.push(Served {
            device,
            identity,
            addr,
        });
    }
    Ok(out)
}

async fn accept_loop(
    listener: TcpListener,
    device: Arc<Device>,
    identity: Arc<Identity>,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let (tcp, _) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        if device.availability() == Availability::Down {
            // Resetting: the connection is cut before any TLS.
            drop(tcp);
            continue;
        }
        let _ = tcp.set_nodelay(true);
        let acceptor = identity.config();
        let device = device.clone();
        let cancel = cancel.clone();
        let rotated = identity.generation.subscribe();
        tracker.spawn(async move {
            match acceptor {
                Acceptor::Rustls(cfg) => {
                    let Ok(tls) = tokio_rustls::TlsAcceptor::from(cfg).accept(tcp).await else {
                        return;
                    };
                    serve(TokioIo::new(tls), device, cancel, rotated).await;
                }
                Acceptor::Openssl(ctx) => {
                    let Ok(ssl) = openssl::ssl::Ssl::new(&ctx) else {
                        return;
                    };
                    let Ok(mut tls) = tokio_openssl::SslStream::new(ssl, tcp) else {
                        return;
                    };
                    if std::pin::Pin::new(&mut tls).accept().await.is_err() {
                        return;
                    }
                    serve(TokioIo::new(tls), device, cancel, rotated).await;
                }
            }
        });
    }
}

/// Serves HTTP/1.1 on one TLS connection until it ends, the simulator
/// stops or the certificate changes.
async fn serve<T>(
    io: TokioIo<T>,
    device: Arc<Device>,
    cancel: CancellationToken,
    mut rotated: tokio::sync::watch::Receiver<u64>,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let device = device.clone();
        async move { handle(device, req).await }
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, svc);
    tokio::select! {
        _ = conn => {}
        _ = cancel.cancelled() => {}
        _ = rotated.changed() => {}
    }
}

/// Error that makes hyper close the connection (a resetting iDRAC).
#[derive(Debug)]
struct Gone;
impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("iDRAC is resetting")
    }
}
impl std::error::Error for Gone {}

async fn handle(
    device: Arc<Device>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Gone> {
    match device.availability() {
        Availability::Down => return Err(Gone),
        Availability::Starting => {
            let body = serde_json::to_vec(&super::resources::error(
                "IDRAC.2.8.SYS446",
                "The iDRAC is not ready. Retry the operation after some time.",
            ))
            .unwrap_or_default();
            return Ok(Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header("content-type", "application/json")
                .header("retry-after", device.warm_up_left_s())
                .body(Full::new(Bytes::from(body)))
                .unwrap_or_default());
        }
        Availability::Up => {}
    }
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let body = match Limited::new(body, MAX_UPLOAD).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(Response::builder()
                .status(StatusCode::PAYLOAD_TOO_LARGE)
                .body(Full::new(Bytes::new()))
                .unwrap_or_default());
        }
    };
    let reply = routes::route(&device, &parts.method, &path, &parts.headers, &body).await;
    let mut resp = Response::builder()
        .status(reply.status)
        .header(
            "server",
            if device.spec.vendor == super::spec::Vendor::Dell {
                "Apache"
            } else {
                "nginx"
            },
        )
        .header("odata-version", "4.0");
    for (k, v) in &reply.headers {
        resp = resp.header(*k, header_value(v));
    }
    Ok(resp.body(Full::new(reply.body)).unwrap_or_default())
}
