use clap::Parser;

fn main() {
    let cli = accord::cli::Cli::parse();
    std::process::exit(accord::cli::run(cli));
}
