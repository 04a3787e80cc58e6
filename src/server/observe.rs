//! Request counters, the Prometheus text rendering, and the one-line request log.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use super::Gauge;
use super::config::{LogFormat, LogSink};

/// Longest path written to the log; OCSP GET paths are cut much shorter.
const MAX_LOGGED_PATH: usize = 160;
/// Characters of an OCSP GET request kept in the log.
const OCSP_LOGGED_CHARS: usize = 16;

/// One answered request, as logged and counted.
pub(super) struct Answered<'a> {
    pub listener: &'static str,
    pub peer: SocketAddr,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub duration: Duration,
}

/// Counters and the log, shared by every connection.
pub(super) struct Observer {
    requests: Mutex<BTreeMap<(&'static str, &'static str, u16), u64>>,
    ocsp: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    format: LogFormat,
    sink: Option<LogSink>,
}

impl Observer {
    pub fn new(format: LogFormat, sink: Option<LogSink>) -> Self {
        Observer { requests: Mutex::default(), ocsp: Mutex::default(), format, sink }
    }

    /// Counts the request and writes its log line.
    pub fn answered(&self, a: &Answered<'_>) {
        let key = (a.listener, route_label(a.path), a.status);
        *lock(&self.requests).entry(key).or_insert(0) += 1;
        if let Some(line) = log_line(self.format, a) {
            self.write(&line);
        }
    }

    /// Writes an operator-facing error line (a backend failure, an accept error), even when
    /// the request log is off.
    pub fn error(&self, message: &str) {
        let line = match self.format {
            LogFormat::Text | LogFormat::Off => format!("error {message}"),
            LogFormat::Json => serde_json::json!({ "error": message }).to_string(),
        };
        self.write(&line);
    }

    fn write(&self, line: &str) {
        match &self.sink {
            Some(sink) => sink(line),
            None => eprintln!("{line}"),
        }
    }

    /// Counts one OCSP response sent for a request of this method.
    pub fn ocsp_response(&self, method: &'static str, outcome: &'static str) {
        *lock(&self.ocsp).entry((method, outcome)).or_insert(0) += 1;
    }

    /// The Prometheus text exposition: our counters, then the backend's gauges.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP pkictl_http_requests_total HTTP requests answered, by listener, route and status.\n",
        );
        out.push_str("# TYPE pkictl_http_requests_total counter\n");
        for ((listener, route, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "pkictl_http_requests_total{{listener=\"{listener}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP pkictl_ocsp_responses_total OCSP responses sent, by request method and status.\n",
        );
        out.push_str("# TYPE pkictl_ocsp_responses_total counter\n");
        for ((method, status), n) in lock(&self.ocsp).iter() {
            let _ =
                writeln!(out, "pkictl_ocsp_responses_total{{method=\"{method}\",status=\"{status}\"}} {n}");
        }
        render_gauges(&mut out, gauges);
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The metrics label of a path: a fixed, small set, whatever the peer asks for.
pub(super) fn route_label(path: &str) -> &'static str {
    match path {
        "/healthz" => "healthz",
        "/metrics" => "metrics",
        "/ocsp" => "ocsp",
        p if p.starts_with("/ocsp/") => "ocsp",
        p if p.starts_with("/crl/") => "crl",
        p if p.starts_with("/ca/") => "ca",
        p if p.starts_with("/acme/") => "acme",
        p if p.starts_with("/v1/") => "v1",
        _ => "other",
    }
}

/// The path as logged: OCSP GET requests cut to a prefix and a length, others capped.
fn logged_path(path: &str) -> String {
    if let Some(request) = path.strip_prefix("/ocsp/") {
        let head: String = request.chars().take(OCSP_LOGGED_CHARS).collect();
        return format!("/ocsp/{head}…({} bytes)", request.len());
    }
    if path.len() > MAX_LOGGED_PATH {
        let head: String = path.chars().take(MAX_LOGGED_PATH).collect();
        return format!("{head}…");
    }
    path.to_string()
}

fn log_line(format: LogFormat, a: &Answered<'_>) -> Option<String> {
    let path = logged_path(a.path);
    let ms = a.duration.as_secs_f64() * 1000.0;
    match format {
        LogFormat::Off => None,
        LogFormat::Text => {
            Some(format!("{} {} {} {} {} {:.1}ms", a.listener, a.peer, a.method, path, a.status, ms))
        }
        LogFormat::Json => Some(
            serde_json::json!({
                "listener": a.listener,
                "peer": a.peer.to_string(),
                "method": a.method,
                "path": path,
                "status": a.status,
                "duration_ms": (ms * 1000.0).round() / 1000.0,
            })
            .to_string(),
        ),
    }
}

/// Appends the backend's gauges, one HELP/TYPE block per name; ill-formed names are dropped.
fn render_gauges(out: &mut String, gauges: &[Gauge]) {
    let mut by_name: BTreeMap<&str, Vec<&Gauge>> = BTreeMap::new();
    for g in gauges.iter().filter(|g| valid_name(&g.name, true)) {
        by_name.entry(g.name.as_str()).or_default().push(g);
    }
    for (name, samples) in by_name {
        let help = samples[0].help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for g in samples {
            let _ = writeln!(out, "{name}{} {}", labels(&g.labels), number(g.value));
        }
    }
}

fn labels(pairs: &[(String, String)]) -> String {
    let body: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| valid_name(k, false))
        .map(|(k, v)| {
            let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    if body.is_empty() { String::new() } else { format!("{{{}}}", body.join(",")) }
}

fn number(v: f64) -> String {
    match v {
        v if v.is_nan() => "NaN".into(),
        v if v == f64::INFINITY => "+Inf".into(),
        v if v == f64::NEG_INFINITY => "-Inf".into(),
        v => v.to_string(),
    }
}

/// A Prometheus metric name (colons allowed) or label name (no colons).
fn valid_name(name: &str, colons: bool) -> bool {
    let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':');
    let mut chars = name.chars();
    chars.next().is_some_and(ok_first) && chars.all(|c| ok_first(c) || c.is_ascii_digit())
}
