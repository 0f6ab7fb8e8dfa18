use clap::Parser;

fn main() {
    // Exit 2 means "the plan would change something" to CI pipelines; a mistyped option must
    // never look like that, so every usage error exits 1.
    let cli = match accord::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap quotes the value it could not use: masked like every other message.
            let text = accord::validate::redact::masked(&e.to_string()).into_owned();
            if e.use_stderr() {
                eprint!("{text}");
                std::process::exit(1);
            }
            print!("{text}");
            std::process::exit(0);
        }
    };
    std::process::exit(accord::cli::run(cli));
}
