use pkictl::ErrorKind;
use pkictl::frontend::{Outcome, describe, one_line, parse_args, run, stdout_failed};

/// "The operation was refused or failed", or the answer is "no".
const EXIT_FAILED: i32 = 1;
/// Bad usage or bad input: nothing was changed.
const EXIT_USAGE: i32 = 2;
/// Nothing to do yet (`agent --once`: renewal is not due).
const EXIT_NOT_DUE: i32 = 3;

fn main() {
    let cli = parse_args();
    let code = match run(cli) {
        Ok(Outcome::Success) => 0,
        Ok(Outcome::Negative) => EXIT_FAILED,
        Ok(Outcome::NotDue) => EXIT_NOT_DUE,
        Err(e) => {
            eprintln!("pkictl: {}", one_line(&describe(&e)));
            exit_code(e.kind())
        }
    };
    // A closed standard output (`pkictl list | head -1`) ends the run quietly, with failure.
    std::process::exit(if stdout_failed() && code == 0 { EXIT_FAILED } else { code });
}

fn exit_code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::InvalidInput
        | ErrorKind::NotFound
        | ErrorKind::Conflict
        | ErrorKind::Refused
        | ErrorKind::Key => EXIT_USAGE,
        _ => EXIT_FAILED,
    }
}
