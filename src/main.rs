use clap::Parser;

fn main() {
    // Exit 2 means "the plan would change something" to CI pipelines; a mistyped option must
    // never look like that, so every usage error exits 1.
    let cli = match accord::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    std::process::exit(accord::cli::run(cli));
}
