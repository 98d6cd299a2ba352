//! The booth's sockets: the main listener (HTTPS when `[server.tls]` is on) and the
//! plain-HTTP one that redirects to it and answers HTTP-01 challenges. Certificates
//! come from `articket_tls`; this file only accepts connections.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use articket_config::Config;
use articket_tls::{Certificates, ACME_TLS_ALPN};

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The sockets a booth serves on, bound before anything else starts.
#[derive(Debug)]
pub struct Listeners {
    /// `server.bind`: HTTPS with `[server.tls]` on, else plain HTTP.
    pub main: TcpListener,
    /// `server.tls.redirect_from`: plain HTTP that sends browsers to HTTPS.
    pub redirect: Option<TcpListener>,
}

impl Listeners {
    /// Binds `server.bind` and, with TLS on, `server.tls.redirect_from`. The errors
    /// say how to get a privileged port or find who holds a busy one.
    pub async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        let main = bind(config.server.bind, "server.bind").await?;
        let redirect = match config.server.tls.redirect_addr() {
            Some(addr) => Some(bind(addr, "server.tls.redirect_from").await?),
            None => None,
        };
        Ok(Listeners { main, redirect })
    }
}

async fn bind(addr: SocketAddr, key: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| bind_error(addr, key, &e))
}

/// Why a listener could not be made, and what to do about it.
fn bind_error(addr: SocketAddr, key: &str, e: &io::Error) -> anyhow::Error {
    let hint = match e.kind() {
        io::ErrorKind::PermissionDenied if addr.port() < 1024 => format!(
            "\n  Ports below 1024 need a privilege. Run the booth from the systemd unit in \
             deploy/ (AmbientCapabilities=CAP_NET_BIND_SERVICE), or grant it once: \
             sudo setcap cap_net_bind_service=+ep {}",
            std::env::current_exe().map_or_else(|_| "articket".into(), |p| p.display().to_string())
        ),
        io::ErrorKind::AddrInUse => format!(
            "\n  Another program listens there (another booth, or a web server). \
             See which: sudo ss -ltnp 'sport = :{}'",
            addr.port()
        ),
        _ => String::new(),
    };
    anyhow::anyhow!("cannot listen on {addr} ({key}): {e}{hint}")
}

/// Accepts TLS connections for axum: handshakes run on their own tasks, so a slow or
/// silent client holds up no one; the authority's TLS-ALPN-01 checks end after the
/// handshake.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, certs: &Certificates) -> anyhow::Result<TlsListener> {
        let local = tcp.local_addr().context("the HTTPS listener's address")?;
        let acceptor = TlsAcceptor::from(certs.server_config()?);
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = tcp.accept() => accepted,
                    // The server is gone.
                    _ = tx.closed() => return,
                };
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: pause, as axum does.
                        tracing::warn!("HTTPS accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let Ok(Ok(tls)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    if tls.get_ref().1.alpn_protocol() == Some(ACME_TLS_ALPN) {
                        return;
                    }
                    let _ = tx.send((tls, peer)).await;
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(pair) => pair,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The plain-HTTP side of an HTTPS booth: HTTP-01 answers, and a permanent redirect
/// of everything else to the same path on `base_url`.
pub fn redirect_app(base_url: String, certs: Option<Certificates>) -> axum::Router {
    let base = Arc::<str>::from(base_url.trim_end_matches('/'));
    axum::Router::new().fallback(move |uri: Uri| {
        let base = base.clone();
        let certs = certs.clone();
        async move { redirect(&base, certs.as_ref(), &uri) }
    })
}

fn redirect(base: &str, certs: Option<&Certificates>, uri: &Uri) -> Response {
    let path = uri.path();
    if let Some(token) = path.strip_prefix("/.well-known/acme-challenge/") {
        return match certs.and_then(|c| c.http01_answer(token)) {
            Some(answer) => answer.into_response(),
            None => (StatusCode::NOT_FOUND, "no such challenge").into_response(),
        };
    }
    let target = format!("{base}{}", uri.path_and_query().map_or("/", |p| p.as_str()));
    match HeaderValue::from_str(&target) {
        Ok(location) => (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_privileged_port_says_how_to_grant_it() {
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        let text = bind_error("0.0.0.0:443".parse().unwrap(), "server.bind", &denied).to_string();
        assert!(
            text.contains("0.0.0.0:443 (server.bind)")
                && text.contains("CAP_NET_BIND_SERVICE")
                && text.contains("setcap cap_net_bind_service=+ep"),
            "{text}"
        );
    }

    #[test]
    fn plain_http_is_sent_to_the_same_path_over_https() {
        let uri: Uri = "/join?room=abc".parse().unwrap();
        let r = redirect("https://booth.example.org", None, &uri);
        assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(
            r.headers()[header::LOCATION],
            "https://booth.example.org/join?room=abc"
        );
        let unknown: Uri = "/.well-known/acme-challenge/nope".parse().unwrap();
        assert_eq!(
            redirect("https://booth.example.org", None, &unknown).status(),
            StatusCode::NOT_FOUND
        );
    }
}
