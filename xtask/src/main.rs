//! `cargo xtask <command>`: the project's tasks.
fn main() {}
