//! Listening, serving connections, limits and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use super::config::ServeConfig;
use super::observe::{Answered, Observer};
use super::routes::{AppState, http_router, https_router};
use super::tls::{ClientChain, TlsSetupError, acceptor};
use super::{MAX_BODY_BYTES, OnlineCa};

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not be bound.
    #[error(
        "cannot listen on {addr}: {}; choose another address or stop what uses it",
        crate::error::io_words(source)
    )]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The HTTPS set-up failed.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
}

/// The bound listeners of `pkictl serve`, ready to run.
pub struct Server {
    http: Listener,
    https: Option<Listener>,
    shared: Arc<Shared>,
}

/// One listening socket and what its connections speak.
struct Listener {
    socket: TcpListener,
    addr: SocketAddr,
    name: &'static str,
    tls: Option<TlsAcceptor>,
    router: Router,
}

/// Limits and counters shared by every connection of both listeners.
struct Shared {
    config: ServeConfig,
    observer: Arc<Observer>,
    slots: Arc<Semaphore>,
}

impl Server {
    /// Binds the HTTP listener and, if configured, the HTTPS one. Port 0 picks a free port:
    /// read it back with [`Server::http_addr`] / [`Server::https_addr`].
    pub async fn bind(config: ServeConfig, backend: Arc<dyn OnlineCa>) -> Result<Server, ServerError> {
        let observer = Arc::new(Observer::new(config.log_format, config.log_sink.clone()));
        let state = AppState { backend, observer: observer.clone() };
        let http = Listener::bind(config.http_addr, "http", None, http_router(state.clone())).await?;
        let https = match &config.https {
            Some(h) => {
                let tls = Some(acceptor(h.cert.clone())?);
                Some(Listener::bind(h.addr, "https", tls, https_router(state, h.routes.clone())).await?)
            }
            None => None,
        };
        let slots = Arc::new(Semaphore::new(config.max_connections.clamp(1, Semaphore::MAX_PERMITS)));
        Ok(Server { http, https, shared: Arc::new(Shared { config, observer, slots }) })
    }

    /// The address the HTTP listener is bound to.
    pub fn http_addr(&self) -> SocketAddr {
        self.http.addr
    }

    /// The address the HTTPS listener is bound to, if there is one.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https.as_ref().map(|l| l.addr)
    }

    /// Serves until SIGTERM or SIGINT, then shuts down as [`Server::run_until`] does.
    pub async fn run(self) {
        self.run_until(shutdown_signal()).await;
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets in-flight requests finish
    /// for at most the drain timeout, drops what is left, and returns.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = watch::channel(false);
        let http = self.http.serve(self.shared.clone(), stopped.clone());
        let https = async {
            if let Some(l) = self.https {
                l.serve(self.shared.clone(), stopped).await;
            }
        };
        let trigger = async {
            shutdown.await;
            let _ = stop.send(true);
        };
        tokio::join!(http, https, trigger);
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C): the shutdown future of `pkictl serve`.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

impl Listener {
    async fn bind(
        addr: SocketAddr,
        name: &'static str,
        tls: Option<TlsAcceptor>,
        router: Router,
    ) -> Result<Listener, ServerError> {
        let bind_error = |source| ServerError::Bind { addr, source };
        let socket = TcpListener::bind(addr).await.map_err(bind_error)?;
        let addr = socket.local_addr().map_err(bind_error)?;
        Ok(Listener { socket, addr, name, tls, router })
    }

    /// Accepts until stopped (a connection slot first, then the connection: excess
    /// connections wait in the kernel's backlog), then drains.
    async fn serve(self, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
        let mut conns = JoinSet::new();
        loop {
            let permit = tokio::select! {
                p = shared.slots.clone().acquire_owned() => p,
                _ = stop_requested(&mut stop) => break,
            };
            let Ok(permit) = permit else { break };
            let accepted = tokio::select! {
                a = self.socket.accept() => a,
                _ = stop_requested(&mut stop) => break,
            };
            while conns.try_join_next().is_some() {}
            match accepted {
                Ok((stream, peer)) => {
                    let conn = Conn { listener: self.name, peer, shared: shared.clone(), stop: stop.clone() };
                    let (tls, router) = (self.tls.clone(), self.router.clone());
                    conns.spawn(async move {
                        conn.run(stream, tls, router).await;
                        drop(permit);
                    });
                }
                Err(e) => accept_failed(&shared, self.name, &e).await,
            }
        }
        drop(self.socket);
        drain(conns, shared.config.drain_timeout).await;
    }
}

/// An accept error (out of file descriptors, a reset before accept): log, pause, go on.
async fn accept_failed(shared: &Shared, listener: &str, e: &io::Error) {
    shared.observer.error(&format!("{listener}: accept failed: {e}"));
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Waits for every connection to finish, at most `bound`; then aborts the rest.
async fn drain(mut conns: JoinSet<()>, bound: Duration) {
    let finished = tokio::time::timeout(bound, join_all(&mut conns)).await.is_ok();
    if !finished {
        conns.abort_all();
        join_all(&mut conns).await;
    }
}

async fn join_all(conns: &mut JoinSet<()>) {
    while conns.join_next().await.is_some() {}
}

/// One accepted connection.
struct Conn {
    listener: &'static str,
    peer: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
}

impl Conn {
    async fn run(self, stream: TcpStream, tls: Option<TlsAcceptor>, router: Router) {
        let _ = stream.set_nodelay(true);
        let Some(tls) = tls else {
            return self.http(stream, ClientChain::default(), router).await;
        };
        let handshake = tokio::time::timeout(self.shared.config.header_timeout, tls.accept(stream));
        if let Ok(Ok(stream)) = handshake.await {
            let chain = ClientChain::of(stream.get_ref().1);
            self.http(stream, chain, router).await;
        }
    }

    /// Serves HTTP/1.x on the stream until the peer leaves, it idles out, or shutdown.
    async fn http<S>(mut self, stream: S, chain: ClientChain, router: Router)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Tracked { inner: stream, activity: activity.clone() });
        let request = RequestCtx {
            listener: self.listener,
            peer: self.peer,
            chain,
            router,
            shared: self.shared.clone(),
            activity: activity.clone(),
        };
        let service = service_fn(move |req| request.clone().handle(req));
        let mut builder = http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(self.shared.config.header_timeout);
        let mut conn = pin!(builder.serve_connection(io, service));
        let idle_limit = self.shared.config.idle_timeout;
        let (mut stopping, mut idle_strikes) = (false, 0);
        loop {
            tokio::select! {
                _ = conn.as_mut() => break,
                _ = stop_requested(&mut self.stop), if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = activity.idle(idle_limit) => {
                    // First strike: close politely (at once if between requests); second: drop.
                    idle_strikes += 1;
                    if idle_strikes > 1 { break; }
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// What a request handler needs from its connection.
#[derive(Clone)]
struct RequestCtx {
    listener: &'static str,
    peer: SocketAddr,
    chain: ClientChain,
    router: Router,
    shared: Arc<Shared>,
    activity: Arc<Activity>,
}

impl RequestCtx {
    /// Answers one request, then counts and logs it.
    async fn handle(self, req: Request<Incoming>) -> Result<Response<axum::body::Body>, Infallible> {
        let started = Instant::now();
        let _busy = self.activity.busy();
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let response = self.respond(req).await;
        self.shared.observer.answered(&Answered {
            listener: self.listener,
            peer: self.peer,
            method: &method,
            path: &path,
            status: response.status().as_u16(),
            duration: started.elapsed(),
        });
        Ok(response)
    }

    async fn respond(&self, req: Request<Incoming>) -> Response<axum::body::Body> {
        if declared_too_large(&req) {
            let mut response = too_large(req.uri().path());
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut().insert(self.chain.clone());
        let limit = self.shared.config.request_timeout;
        match tokio::time::timeout(limit, self.router.clone().oneshot(req)).await {
            Ok(Ok(response)) => response,
            Ok(Err(never)) => match never {},
            Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "request timed out\n").into_response(),
        }
    }
}

/// The 413 answer: RFC 9457 problem+json on the JSON API (`/v1/…`), plain text elsewhere.
fn too_large(path: &str) -> Response<axum::body::Body> {
    if !path.starts_with("/v1/") {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response();
    }
    let body = serde_json::json!({
        "type": "urn:pkictl:error:too-large",
        "title": "Payload Too Large",
        "status": 413,
        "detail": format!("The request body is larger than the {} KiB the CA accepts.", MAX_BODY_BYTES / 1024),
    });
    (StatusCode::PAYLOAD_TOO_LARGE, [(header::CONTENT_TYPE, "application/problem+json")], body.to_string())
        .into_response()
}

/// A Content-Length over the limit: refused before a byte of the body is read.
fn declared_too_large<B>(req: &Request<B>) -> bool {
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
    declared.and_then(|v| v.trim().parse::<u64>().ok()).is_some_and(|n| n > MAX_BODY_BYTES as u64)
}

/// When bytes last moved on a connection, and how many of its requests are being handled.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

/// Marks a request as being handled while it lives.
struct Busy<'a>(&'a Activity);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

impl Activity {
    fn new() -> Self {
        Activity { start: Instant::now(), last_ms: AtomicU64::new(0), in_flight: AtomicUsize::new(0) }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn busy(&self) -> Busy<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self)
    }

    /// Resolves once no byte has moved for `limit` while no request was being handled.
    async fn idle(&self, limit: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let quiet = last.elapsed();
            if quiet >= limit && self.in_flight.load(Ordering::Relaxed) == 0 {
                return;
            }
            tokio::time::sleep(limit.saturating_sub(quiet).max(limit / 4)).await;
        }
    }
}

/// A stream that records in its [`Activity`] every time bytes move.
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note_written(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note_written(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S> Tracked<S> {
    fn note_written(&self, polled: &Poll<io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) {
            self.activity.touch();
        }
    }
}
