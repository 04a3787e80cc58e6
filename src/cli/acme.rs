//! `acme`: ACME provisioners.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AcmeCommand {
    /// Add a provisioner: which names ACME clients may get, with which profile, from which CA.
    #[command(after_help = "Examples:\n  \
        pkictl acme add web --profile server --allow '*.svc.example.com' --allow api.example.com\n  \
        pkictl acme add nodes --profile peer --allow '*.nodes.example.com' --allow-ip 10.0.0.0/8 --max-validity 30d\n  \
        pkictl acme add partners --profile client --allow '*.partners.example.com' --require-eab\n\n\
        A pattern is a DNS name (that name only) or *.NAME: every name strictly below NAME, at\n\
        any depth (not NAME itself). A wildcard order (*.x.NAME) needs a *. pattern. --allow-ip\n\
        takes CIDRs with the host bits zero. The CA's name constraints still apply on top.\n\
        Clients use the directory https://HOST:PORT/acme/NAME/directory of `pkictl serve`.")]
    Add {
        /// The provisioner's name (letters, digits, '-', '_', '.'); part of its directory URL.
        name: String,
        /// What it issues: server, client or peer.
        #[arg(long, value_name = "P")]
        profile: String,
        /// A DNS name or *.-prefixed subtree clients may get (repeatable).
        #[arg(long, value_name = "PATTERN")]
        allow: Vec<String>,
        /// An IP range (CIDR) clients may get addresses from (repeatable).
        #[arg(long, value_name = "CIDR")]
        allow_ip: Vec<String>,
        /// The longest validity it issues (e.g. 30d) [default: the profile's].
        #[arg(long, value_name = "D")]
        max_validity: Option<String>,
        /// New accounts need External Account Binding (keys from `pkictl acme eab NAME`).
        #[arg(long)]
        require_eab: bool,
        /// The CA that signs its certificates [default: the issuing CA].
        #[arg(long, value_name = "NAME")]
        ca: Option<String>,
    },

    /// List the serving provisioners.
    #[command(after_help = "Examples:\n  pkictl acme list\n  pkictl acme list --json")]
    List,

    /// Remove a provisioner: it stops serving; its accounts, orders and certificates stay in
    /// the ledger (certificates stay valid).
    #[command(after_help = "Examples:\n  pkictl acme remove web\n  pkictl acme remove web --force\n\n\
        A provisioner with accounts is removed only with --force: their clients can no longer renew.")]
    Remove {
        /// The provisioner.
        name: String,
        /// Remove it even though it has accounts.
        #[arg(long)]
        force: bool,
    },

    /// Make an External Account Binding key: a key id and an HMAC key, printed once.
    #[command(after_help = "Examples:\n  \
        pkictl acme eab partners\n  \
        pkictl acme eab partners --json | jq -r .hmac_key\n\n\
        certbot: --eab-kid KEY_ID --eab-hmac-key HMAC_KEY; lego: --eab --kid KEY_ID --hmac HMAC_KEY.\n\
        The HMAC key is shown only now; the ledger keeps it to verify the binding. A key binds\n\
        one account.")]
    Eab {
        /// The provisioner.
        name: String,
    },
}
