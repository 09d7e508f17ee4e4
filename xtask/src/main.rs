//! `cargo xtask <command>`: the project's tasks, one module per subcommand.

use clap::{Parser, Subcommand};

mod estimate;
mod paths;
mod select;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "ttnn-oom tasks", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Device-free memory estimate of every selected case (instant; no runtime needed).
    Estimate(estimate::EstimateArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Estimate(args) => estimate::run(args),
    }
}
