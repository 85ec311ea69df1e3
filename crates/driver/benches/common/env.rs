//! Counts the benches read from the environment (included with `#[path]` where used).

/// `name`'s whole number, or `default` where it is unset; a malformed value stops the bench
/// naming the variable.
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a whole number"))
    })
}
