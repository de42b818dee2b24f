use clap::Parser;

fn main() -> std::process::ExitCode {
    cutover::cli::run(cutover::cli::Cli::parse())
}
