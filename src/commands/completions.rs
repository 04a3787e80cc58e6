//! `pkictl completions SHELL` and `pkictl man`: generated from the clap definitions, so they
//! never drift from the real flags.

use super::Outcome;
use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{Error, Result};
use crate::home::{self, PUBLIC_MODE};

pub fn completions(shell: clap_complete::Shell) -> Result<Outcome> {
    let mut command = Cli::command();
    // Into a buffer: clap_complete panics when it cannot write (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "pkictl", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(Outcome::Success)
}

/// The man page of pkictl on stdout, or with `out` one page per command in that directory.
pub fn man(out: Option<&Path>) -> Result<Outcome> {
    let command = Cli::command();
    match out {
        None => {
            let mut page = Vec::new();
            render(&command, &mut page)?;
            std::io::stdout()
                .write_all(&page)
                .map_err(|source| Error::Write { path: "<stdout>".into(), source })?;
        }
        Some(dir) => {
            // Man pages are for everyone: ordinary directory permissions, not the home's 0700.
            std::fs::create_dir_all(dir)
                .map_err(|source| Error::Write { path: dir.to_path_buf(), source })?;
            write_pages(&command, "pkictl", dir)?;
        }
    }
    Ok(Outcome::Success)
}

fn render(command: &clap::Command, into: &mut Vec<u8>) -> Result<()> {
    clap_mangen::Man::new(command.clone())
        .render(into)
        .map_err(|source| Error::Write { path: "<man page>".into(), source })
}

/// pkictl.1, pkictl-issue.1, pkictl-issue-server.1, …
fn write_pages(command: &clap::Command, name: &str, dir: &Path) -> Result<()> {
    let named = command.clone().name(name.to_string());
    let mut page = Vec::new();
    render(&named, &mut page)?;
    home::write_atomic(&dir.join(format!("{name}.1")), &page, PUBLIC_MODE)?;
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
