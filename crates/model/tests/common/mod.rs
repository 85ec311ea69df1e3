//! Helpers shared by the integration tests.

/// `err` and its sources, joined as anyhow's `{:#}` (the binary's error output) prints them.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        parts.push(e.to_string());
        source = e.source();
    }
    parts.join(": ")
}
