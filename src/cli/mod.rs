//! The command line, described with clap derive, one file per command group. Nothing here
//! does any work.

mod acme;
mod agent;
mod ca;
mod enroll;
mod issue;
mod serve;
mod token;

pub use acme::AcmeCommand;
pub use agent::AgentArgs;
pub use ca::{CaCommand, InitArgs};
pub use enroll::EnrollArgs;
pub use issue::{ClientArgs, IssueCommand, IssueOptions, LeafProfile, PeerArgs, ServerArgs, SignArgs};
pub use serve::{LogFormatArg, ServeArgs};
pub use token::{TokenCommand, TokenProfile};

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::keys::KeyType;

#[derive(Debug, Parser)]
#[command(
    name = "pkictl",
    version,
    about = "A private certificate authority for mutual TLS, run from the shell",
    after_help = "Examples:\n  pkictl init --name \"Acme Root CA\"\n  pkictl ca list\n  pkictl --home /srv/pki ca cert > ca.pem"
)]
pub struct Cli {
    /// The home: one trust domain (ledger, CA keys, CA certificates).
    #[arg(long, global = true, env = "PKICTL_HOME", default_value = "pki", value_name = "DIR")]
    pub home: PathBuf,

    /// Print one JSON object on stdout and nothing else.
    #[arg(long, global = true)]
    pub json: bool,

    /// Read the CA passphrase from the first line of FILE (else $PKICTL_PASSPHRASE, else a prompt).
    #[arg(long, global = true, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a home: the ledger, a self-signed root CA and an issuing intermediate.
    #[command(after_help = "Examples:\n  \
        PKICTL_PASSPHRASE=... pkictl init --name \"Acme Root CA\"\n  \
        pkictl init --name \"Acme Root CA\" --intermediate \"Acme Issuing CA\" --key-type p384 \\\n      \
        --crl-url http://pki.acme.internal/crl --passphrase-file ./ca.pass\n  \
        pkictl --home ./lab init --name \"Lab CA\" --no-passphrase --no-intermediate")]
    Init(InitArgs),

    /// Inspect the CAs of this home, and add intermediates.
    #[command(
        subcommand,
        after_help = "Examples:\n  pkictl ca list\n  pkictl ca show \"Acme Root CA\"\n  pkictl ca cert > issuing.pem\n  \
        pkictl ca add-intermediate --name \"Acme Partners CA\" --permit-dns partners.acme.com"
    )]
    Ca(CaCommand),

    /// Issue a server, client or peer certificate (a new key, or a CSR's key).
    #[command(
        subcommand,
        after_help = "Examples:\n  pkictl issue server api.example.com --ip 10.0.0.7 --out ./tls\n  \
        pkictl issue client alice@example.com\n  pkictl issue peer node1.cluster.local\n  \
        pkictl issue client --batch devices.txt --out ./devices"
    )]
    Issue(IssueCommand),

    /// Sign a CSR after checking its signature (proof of possession).
    #[command(after_help = "Examples:\n  \
        pkictl sign api.csr --profile server\n  \
        pkictl sign device.csr --profile client --name device-42 --uri spiffe://acme.internal/device/42 --out ./certs\n\n\
        The CN and SANs come from the CSR unless --name or SAN flags are given; any other\n\
        requested extension is ignored (with a warning): the profile decides key usage.")]
    Sign(SignArgs),

    /// Revoke a certificate (RFC 5280 reason), then refresh its issuer's CRL.
    #[command(after_help = "Examples:\n  \
        pkictl revoke 4f:1a:09:... --reason key-compromise\n  \
        pkictl revoke 3c0e9a5b77d14e2f --reason superseded --ca \"Acme Issuing CA\"\n  \
        pkictl revoke --from-file compromised.txt --reason key-compromise\n\n\
        Reasons: unspecified, key-compromise, ca-compromise, affiliation-changed, superseded,\n\
        cessation-of-operation, certificate-hold, privilege-withdrawn, aa-compromise.")]
    Revoke {
        /// Serial number in hex (colons and case do not matter) or a SHA-256 fingerprint.
        #[arg(required_unless_present = "from_file", conflicts_with = "from_file")]
        serial: Option<String>,
        /// Revoke every serial (or fingerprint) in FILE, one per line (- for stdin), in one
        /// transaction, then publish each affected CA's CRL once.
        #[arg(long, value_name = "FILE")]
        from_file: Option<PathBuf>,
        /// With --from-file: skip unknown and already revoked serials (listed as warnings)
        /// instead of revoking nothing.
        #[arg(long, requires = "from_file")]
        skip_unknown: bool,
        /// Why: an RFC 5280 reason in kebab case.
        #[arg(long, value_name = "R")]
        reason: String,
        /// Only consider certificates from this CA (when a serial exists under several CAs).
        #[arg(long, value_name = "NAME")]
        ca: Option<String>,
    },

    /// Sign a fresh CRL for a CA (also kept at <home>/crl/<ca>.crl.pem and .der).
    #[command(after_help = "Examples:\n  \
        pkictl crl > issuing.crl.pem\n  \
        pkictl crl --ca \"Acme Root CA\" --der --out /srv/www/crl/acme-root-ca.crl\n  \
        pkictl crl --next-update 24h --out crl.pem")]
    Crl {
        /// CA whose CRL to sign [default: the issuing CA].
        #[arg(long, value_name = "NAME")]
        ca: Option<String>,
        /// Also write the CRL to FILE (PEM, or DER with --der); without it, PEM goes to stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Write DER instead of PEM to --out.
        #[arg(long)]
        der: bool,
        /// How long this CRL stays valid [default: the CA's setting, 7d].
        #[arg(long, value_name = "D")]
        next_update: Option<String>,
    },

    /// List certificates from the ledger; `--expiring-within` exits 1 when anything matches.
    #[command(after_help = "Examples:\n  \
        pkictl list\n  \
        pkictl list --status revoked\n  \
        pkictl list --expiring-within 30d --json || alert \"certificates expire or CRLs are due\"\n  \
        pkictl list --status all --ca \"Acme Issuing CA\" --profile client")]
    List {
        /// valid (default), revoked, expired or all.
        #[arg(long, default_value = "valid", value_name = "S")]
        status: String,
        /// Only valid certificates that expire within D, and CRLs due for re-publication (past
        /// half their lifetime, or within D when that is shorter); exit 1 if there are any.
        #[arg(long, value_name = "D")]
        expiring_within: Option<String>,
        /// Only certificates issued by this CA.
        #[arg(long, value_name = "NAME")]
        ca: Option<String>,
        /// Only this profile: root, intermediate, server, client, peer, ocsp-responder
        /// (the online CA's responder certificates, not listed otherwise).
        #[arg(long, value_name = "P")]
        profile: Option<String>,
        /// Only certificates issued through this ACME provisioner.
        #[arg(long, value_name = "NAME")]
        acme: Option<String>,
    },

    /// Re-issue a certificate with the same subject, SANs, profile and issuer.
    #[command(after_help = "Examples:\n  \
        pkictl renew api.example.com --rekey --revoke-old --out ./tls\n  \
        pkictl renew 4f1a09c3... --key ./tls/api.example.com.key --validity 30d\n\n\
        Without --rekey the new certificate keeps the old public key: pass the old key with\n\
        --key (pkictl never keeps generated keys), unless the key came from a CSR.")]
    Renew {
        /// Serial (hex), SHA-256 fingerprint or NAME of the certificate to renew.
        certificate: String,
        /// Generate a new key (written to --out) instead of keeping the old one.
        #[arg(long)]
        rekey: bool,
        /// Key type for --rekey [default: the old key's type].
        #[arg(long, value_name = "T")]
        key_type: Option<KeyType>,
        /// The old private key (PKCS#8 PEM), to keep the same key.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Lifetime of the new certificate [default: the old one's].
        #[arg(long, value_name = "D")]
        validity: Option<String>,
        /// Revoke the old certificate as superseded and refresh the CRL.
        #[arg(long)]
        revoke_old: bool,
        /// Directory for the new files.
        #[arg(long, default_value = ".", value_name = "DIR")]
        out: PathBuf,
        /// Overwrite existing output files.
        #[arg(long)]
        force: bool,
    },

    /// Hand a certificate out as PEM, DER, chain, fullchain or PKCS#12, from the ledger.
    #[command(after_help = "Examples:\n  \
        pkictl export api.example.com --format fullchain --out api.fullchain.pem\n  \
        pkictl export 4f1a09c3... --format der --out api.der\n  \
        pkictl export billing --format p12 --key billing.key --p12-passphrase-file billing.pass --out billing.p12\n\n\
        chain = the issuing CAs up to, not including, the root; fullchain = the certificate + chain.\n\
        The p12 password is a secret of its own: --p12-passphrase-file FILE, else\n\
        $PKICTL_P12_PASSPHRASE, else a prompt. It is never read from --passphrase-file or\n\
        $PKICTL_PASSPHRASE (the CA passphrase), and it is refused when it equals the CA\n\
        passphrase. p12 is AES-256-CBC + PBKDF2-SHA256 with an HMAC-SHA256 MAC as OpenSSL 3\n\
        writes, or 3DES + SHA-1 with --legacy for old readers.")]
    Export {
        /// Serial (hex), SHA-256 fingerprint or NAME.
        certificate: String,
        /// pem, der, chain, fullchain or p12.
        #[arg(long, value_enum)]
        format: crate::commands::ExportFormat,
        /// The private key to bundle (p12 only).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Write to FILE instead of stdout (p12 files are created 0600).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// p12 for legacy readers: 3DES and an SHA-1 MAC.
        #[arg(long)]
        legacy: bool,
        /// Read the PKCS#12 password (not the CA passphrase) from the first line of FILE
        /// [else $PKICTL_P12_PASSPHRASE, else a prompt].
        #[arg(long, value_name = "FILE")]
        p12_passphrase_file: Option<PathBuf>,
    },

    /// Say, layer by layer, whether and why a TLS peer would accept CERT.
    #[command(after_help = "Examples:\n  \
        pkictl verify tls/api.example.com.fullchain.pem --purpose server --host api.example.com\n  \
        pkictl verify client.crt --chain client.chain.pem --purpose client\n  \
        pkictl verify api.crt --chain api.chain.pem --at 2027-03-01 --json\n  \
        pkictl verify partner.fullchain.pem --trust partner-root.pem --crl partner.crl\n\n\
        Layers, in the order a peer checks them: parse, chain (a path to a root of this home or\n\
        of --trust, built from the certificates sent, every candidate issuer tried and each\n\
        abandoned path noted), validity, constraints (basicConstraints, keyUsage, pathLen, name\n\
        constraints of every form, RFC 5280 profile rules), usage (keyUsage/extKeyUsage for\n\
        --purpose, on the leaf and every CA), host (--host against the SANs), revocation (the\n\
        ledger and the CA's latest CRL or --crl, which must itself be usable and current).\n\
        Exit 0: a peer would accept; 1: it would refuse; 2: CERT, --chain, --trust or --crl is\n\
        not what it should be. Intermediates must come with CERT or --chain, as a peer only\n\
        gets what is sent.")]
    Verify {
        /// The certificate (PEM or DER); a PEM bundle's other certificates count as sent along.
        cert: PathBuf,
        /// Intermediates (PEM), as the peer would receive them.
        #[arg(long, value_name = "FILE")]
        chain: Option<PathBuf>,
        /// Trust this CA of the home instead of the home's root.
        #[arg(long, value_name = "NAME")]
        ca: Option<String>,
        /// Trust the CA certificates of this PEM bundle (a partner's CA) instead of the home's.
        #[arg(long, value_name = "FILE", conflicts_with = "ca")]
        trust: Option<PathBuf>,
        /// Also check revocation against this CRL, PEM or DER (repeatable); it takes the place
        /// of the home's latest CRL of the same CA.
        #[arg(long, value_name = "FILE")]
        crl: Vec<PathBuf>,
        /// Check keyUsage/extKeyUsage for a TLS server or client certificate.
        #[arg(long, value_enum)]
        purpose: Option<crate::verify::Purpose>,
        /// Check that this host name, IP address (or mailbox, for S/MIME-style names) is in the
        /// subjectAltName.
        #[arg(long, value_name = "H")]
        host: Option<String>,
        /// Verify as of this time instead of now (2027-01-31 or RFC 3339).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Allow at most N intermediate CAs between CERT and its trust anchor [default: 8].
        #[arg(long, value_name = "N")]
        max_depth: Option<usize>,
    },

    /// Move the home's ledger: `ledger migrate --to postgres://…` copies the SQLite ledger into
    /// an empty PostgreSQL database, checks the copy, and switches the home over.
    #[command(subcommand)]
    Ledger(LedgerCommand),

    /// Copy the whole home (ledger, CA keys and certificates, CRLs) consistently into DIR.
    #[command(after_help = "Examples:\n  \
        pkictl backup /mnt/offline/pki-2026-11-28\n  \
        pkictl --home /srv/pki backup ./pki-backup && pkictl --home ./pki-backup doctor\n\n\
        The ledger is copied with SQLite's online backup, so other pkictl commands may run\n\
        meanwhile; copying ledger.db by hand could miss what is still in ledger.db-wal.")]
    Backup {
        /// A new or empty directory (created 0700).
        dir: PathBuf,
    },

    /// Check a home: the ledger is sound and every file agrees with it; exit 1 on problems.
    #[command(after_help = "Examples:\n  \
        pkictl doctor\n  \
        pkictl doctor --scan ./tls --scan /etc/nginx/certs\n  \
        pkictl doctor --repair\n\n\
        Checks: SQLite integrity; home and key file permissions; each CA key readable, encrypted\n\
        when the ledger says so, and the key of its CA certificate (an encrypted key is opened\n\
        only with --passphrase-file or PKICTL_PASSPHRASE); each CA certificate file and CRL file\n\
        equal to the ledger's newest copy; each CRL correctly signed, current and not dated in the\n\
        future; every stored certificate matching its serial and fingerprint; the hash-chained\n\
        audit trail replayed, with the first broken link and every row it does not explain\n\
        (its head is printed: record it elsewhere); interrupted writes; and, with --scan DIR, that\n\
        every NAME.crt there is complete and recorded in the ledger.")]
    Doctor {
        /// Also check the certificate files (*.crt) in DIR against the ledger (repeatable).
        #[arg(long, value_name = "DIR")]
        scan: Vec<PathBuf>,
        /// Rewrite CA certificate and CRL files from the ledger (under the publish lock);
        /// remove interrupted writes. The ledger itself is never changed.
        #[arg(long)]
        repair: bool,
    },

    /// The main job in one command: a throwaway CA, certificates, a revocation, and three
    /// mutual-TLS handshakes judged by rustls.
    #[command(after_help = "Examples:\n  \
        pkictl demo\n  \
        pkictl demo --dir ./demo   # keep the home and the certificates to look at")]
    Demo {
        /// Keep everything in DIR (new or empty) instead of a temporary directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },

    /// Print a shell completion script.
    #[command(after_help = "Examples:\n  \
        pkictl completions bash > /etc/bash_completion.d/pkictl\n  \
        pkictl completions zsh > \"${fpath[1]}/_pkictl\"\n  \
        pkictl completions fish > ~/.config/fish/completions/pkictl.fish")]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print the man page (or write one page per command with --out).
    #[command(after_help = "Examples:\n  \
        pkictl man | man -l -\n  \
        pkictl man --out /usr/local/share/man/man1")]
    Man {
        /// Write pkictl.1, pkictl-issue.1, … into DIR.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },

    /// Run the online CA until SIGTERM: OCSP, CRLs and CA certificates over HTTP, kept fresh;
    /// enrolment, renewal and ACME over HTTPS.
    #[command(after_help = "Examples:\n  \
        pkictl serve --passphrase-file /etc/pkictl/ca.pass\n  \
        pkictl serve --http 0.0.0.0:80 --https 0.0.0.0:443 --name pki.acme.internal\n  \
        pkictl serve --no-https --log-format json\n\n\
        Plain HTTP: GET /crl/<ca>.crl, GET /ca/<ca>.crt, POST /ocsp, GET /ocsp/<base64>,\n\
        GET /healthz, GET /metrics. CRLs are re-signed at half of their lifetime and a\n\
        revocation by any pkictl process is served within a second.\n\
        HTTPS: POST /v1/enroll (a one-time token), POST /v1/renew (mTLS), /acme/<provisioner>/,\n\
        GET /healthz.")]
    Serve(ServeArgs),

    /// On a workload: make a key, get a certificate from `pkictl serve` for a one-time token,
    /// and write NAME.crt, NAME.key, NAME.chain.pem, NAME.fullchain.pem.
    #[command(after_help = "Examples:\n  \
        PKICTL_TOKEN=... pkictl enroll --server https://pki.acme.internal:8443 --root root.pem --out /etc/tls\n  \
        pkictl enroll --server https://127.0.0.1:8443 --root root.pem --token-file token.txt --name api --out ./tls\n\n\
        The names, profile and lifetime come from the token; the key never leaves this machine.\n\
        The token is a secret: prefer --token-file or $PKICTL_TOKEN to --token.")]
    Enroll(EnrollArgs),

    /// One-time enrolment tokens for `pkictl enroll` against `pkictl serve`.
    #[command(
        subcommand,
        after_help = "Examples:\n  pkictl token create api.example.com --profile server --ttl 1h\n  pkictl token list\n  pkictl token revoke 3"
    )]
    Token(TokenCommand),

    /// Manage ACME provisioners (the ACME server of `pkictl serve`).
    #[command(
        subcommand,
        after_help = "Examples:\n  pkictl acme add web --profile server --allow '*.svc.example.com'\n  \
        pkictl acme list\n  pkictl acme eab web\n  pkictl acme remove web"
    )]
    Acme(AcmeCommand),

    /// Keep one certificate renewed on a workload: renew at 2/3 of its lifetime, write the
    /// files atomically, run a reload command.
    #[command(after_help = "Examples:\n  \
        pkictl --home /srv/pki agent --cert tls/api.crt --key tls/api.key --exec 'systemctl reload nginx'\n  \
        pkictl agent --cert /etc/tls/api.crt --key /etc/tls/api.key --server https://pki.internal:8443 --root /etc/tls/root.pem\n  \
        pkictl --home /srv/pki agent --cert tls/api.crt --key tls/api.key --once   # from cron or a systemd timer\n\n\
        Without --server it renews against the home (--home, $PKICTL_HOME, ./pki) directly.\n\
        --once exit codes: 0 renewed, 3 not due yet, 1 renewal failed, 2 bad usage or input.\n\
        The files become symlinks into .NAME.crt.pkictl-agent/current/, swapped with one rename,\n\
        so a reader or a crash never pairs a key with a certificate it does not belong to.")]
    Agent(AgentArgs),

    /// Show one certificate: by serial, SHA-256 fingerprint or name.
    #[command(after_help = "Examples:\n  \
        pkictl show api.example.com\n  \
        pkictl show 4f1a09c3... --json\n  \
        pkictl show api.example.com --pem > api.crt")]
    Show {
        /// Serial (hex), SHA-256 fingerprint (hex) or the NAME it was issued for.
        certificate: String,
        /// Print the certificate as PEM.
        #[arg(long)]
        pem: bool,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum LedgerCommand {
    /// Copy this home's SQLite ledger into an empty PostgreSQL database (ids and audit chain
    /// included), check row counts and the chain, then switch the home over. The SQLite file
    /// stays in the home, read-only, as ledger-sqlite-backup.db. Stop `serve` and other
    /// writers first.
    #[command(after_help = "Examples:\n  \
        PGPASSWORD=... pkictl ledger migrate --to 'postgres://pkictl@db.internal/pki?sslmode=verify-full&sslrootcert=/etc/pki/db-ca.pem'\n\n\
        The password comes from PGPASSWORD or PGPASSFILE (~/.pgpass); it is never written to the home.")]
    Migrate {
        /// The empty database: postgres://USER@HOST[:PORT]/DB[?sslmode=…&sslrootcert=FILE].
        #[arg(long, value_name = "URL")]
        to: String,
    },
}
