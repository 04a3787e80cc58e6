use clap::Parser;

fn main() {
    let cli = pkictl::cli::Cli::parse();
    let code = match pkictl::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pkictl: {}", e.one_line());
            e.exit_code()
        }
    };
    std::process::exit(code);
}
