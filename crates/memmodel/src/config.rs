//! shapes.toml (filled next)
