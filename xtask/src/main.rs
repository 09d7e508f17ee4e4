//! `cargo xtask <command>`: the project's tasks, one module per subcommand.

use clap::{Parser, Subcommand};

mod paths;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "ttnn-oom tasks", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {}
}
