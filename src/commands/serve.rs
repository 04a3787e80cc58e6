//! `pkictl serve`: unlock once, start the online CA, serve until SIGTERM/SIGINT, drain, exit 0.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

use super::{Context, Outcome};
use crate::authority::Authority;
use crate::cli::{LogFormatArg, ServeArgs};
use crate::duration::parse_duration;
use crate::error::{Error, Result};
use crate::keys::FixedPassphrase;
use crate::names::San;
use crate::online::{AcmeDns, AcmeValidation};
use crate::online::{HttpsIdentity, OnlineAuthority, OnlineSettings, TickReport};
use crate::server::{HttpsConfig, LogFormat, ServeConfig, Server, shutdown_signal};

/// How often the ledger is polled for changes by other processes (a revocation is served
/// within one tick) and lifetimes are checked.
const TICK: StdDuration = StdDuration::from_millis(250);

pub fn run(ctx: &Context, args: &ServeArgs) -> Result<Outcome> {
    let settings = settings(args)?;
    let validation = acme_validation(args)?;
    let authority = Authority::open(&ctx.home, Box::new(FixedPassphrase::none()))?;
    let unlock = unlock_once(ctx, &authority)?;
    let authority = Authority::open(&ctx.home, Box::new(unlock))?;
    let (online, report) = OnlineAuthority::start(authority, settings)?;
    log_tick(&report);
    let config = serve_config(args, &online, validation);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Serve(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(serve(config, online))?;
    Ok(Outcome::Success)
}

async fn serve(config: ServeConfig, online: Arc<OnlineAuthority>) -> Result<()> {
    let server = Server::bind(config, online.clone()).await.map_err(|e| Error::Serve(e.to_string()))?;
    eprintln!("pkictl serve: http://{}/ (OCSP, CRLs, CA certificates, health, metrics)", server.http_addr());
    if let Some(addr) = server.https_addr() {
        eprintln!("pkictl serve: https://{addr}/ (enrolment, renewal, ACME, health)");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = spawn_ticker(online, stop.clone());
    server.run_until(shutdown_signal()).await;
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || ticker.join()).await;
    eprintln!("pkictl serve: stopped");
    Ok(())
}

/// Keeps the online CA fresh on its own thread: ticks block on SQLite and on signing.
fn spawn_ticker(online: Arc<OnlineAuthority>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(TICK);
            log_tick(&online.tick());
        }
    })
}

fn log_tick(report: &TickReport) {
    for line in &report.done {
        eprintln!("pkictl serve: {line}");
    }
    for line in &report.failed {
        eprintln!("pkictl serve: failed: {line}");
    }
}

/// The CA passphrase, asked once (file, environment or prompt) when any CA key is encrypted.
fn unlock_once(ctx: &Context, authority: &Authority) -> Result<FixedPassphrase> {
    let encrypted = authority.ledger().authorities()?.iter().any(|ca| ca.key_encrypted);
    if !encrypted {
        return Ok(FixedPassphrase::none());
    }
    let what = format!("the CA keys of {}", ctx.home.display());
    let passphrase = ctx.passphrase.for_existing_key(&what)?;
    Ok(FixedPassphrase::new(passphrase.as_str()))
}

fn settings(args: &ServeArgs) -> Result<OnlineSettings> {
    let duration =
        |flag: &str, text: &str| parse_duration(text).map_err(|e| Error::invalid(format!("{flag}: {e}")));
    let https = if args.no_https {
        None
    } else {
        Some(https_identity(args, duration("--https-validity", &args.https_validity)?)?)
    };
    Ok(OnlineSettings {
        ocsp_validity: duration("--ocsp-validity", &args.ocsp_validity)?,
        responder_validity: duration("--responder-validity", &args.responder_validity)?,
        crl_next_update: args
            .crl_next_update
            .as_deref()
            .map(|d| duration("--crl-next-update", d))
            .transpose()?,
        https,
        renewal_grace: args
            .allow_renewal_after_expiry
            .as_deref()
            .map(|d| duration("--allow-renewal-after-expiry", d))
            .transpose()?,
    })
}

/// The HTTPS certificate's names: every `--name`, and the listen address unless it is a
/// wildcard (0.0.0.0, ::) that no client connects to by name.
fn https_identity(args: &ServeArgs, validity: time::Duration) -> Result<HttpsIdentity> {
    let mut sans: Vec<San> = Vec::new();
    for name in &args.names {
        sans.push(
            crate::names::parse_dns(name)
                .map(San::Dns)
                .map_err(|e| Error::invalid(format!("--name: {e}")))?,
        );
    }
    let ip = args.https.ip();
    if !ip.is_unspecified() {
        sans.push(San::Ip(ip));
    }
    let Some(first) = sans.first() else {
        return Err(Error::invalid(format!(
            "--https {} listens on every address: give the host name clients use with --name HOST",
            args.https
        )));
    };
    let name = match first {
        San::Dns(name) => name.clone(),
        other => other.to_string().trim_start_matches("IP:").to_string(),
    };
    Ok(HttpsIdentity { name, sans: sans.split_off(1), validity, ca: args.https_ca.clone() })
}

/// Where ACME challenge validation connects (`--acme-http01-port`, `--acme-tls-alpn01-port`,
/// `--acme-resolve`) and asks the DNS (`--acme-dns`).
fn acme_validation(args: &ServeArgs) -> Result<AcmeValidation> {
    let mut resolve = Vec::new();
    for pin in &args.acme_resolve {
        let parsed =
            pin.split_once('=').and_then(|(host, ip)| Some((host.to_ascii_lowercase(), ip.parse().ok()?)));
        let Some(pin) = parsed else {
            return Err(Error::invalid(format!(
                "--acme-resolve \"{}\" is not HOST=IP, e.g. app.example.com=127.0.0.1",
                pin.chars().take(40).collect::<String>()
            )));
        };
        resolve.push(pin);
    }
    Ok(AcmeValidation {
        http01_port: args.acme_http01_port,
        tls_alpn01_port: args.acme_tls_alpn01_port,
        resolve,
        dns: args.acme_dns.map_or(AcmeDns::System, AcmeDns::Server),
    })
}

fn acme_limits(args: &ServeArgs) -> crate::authority::AcmeLimits {
    crate::authority::AcmeLimits {
        orders_per_hour: args.acme_max_orders_per_hour,
        failed_orders_per_hour: args.acme_max_failed_orders_per_hour,
    }
}

fn serve_config(args: &ServeArgs, online: &Arc<OnlineAuthority>, validation: AcmeValidation) -> ServeConfig {
    let https = online.https_slot().map(|slot| HttpsConfig {
        addr: args.https,
        routes: crate::online::enrolment_routes(online.clone()).merge(crate::online::acme_routes(
            online.clone(),
            validation,
            acme_limits(args),
        )),
        ..HttpsConfig::new(slot)
    });
    ServeConfig {
        http_addr: args.http,
        https,
        max_connections: args.max_connections.max(1),
        log_format: match args.log_format {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
            LogFormatArg::Off => LogFormat::Off,
        },
        ..ServeConfig::default()
    }
}
