//! Compiled GPU kernels kept on disk between runs (features `wgpu`, `cuda`).
//!
//! CubeCL, under burn's GPU backends, compiles each kernel on its first use in a process: on an
//! NVIDIA H200 that was 3.6 s (burn-wgpu) and 7.6 s (burn-cuda) before LeNet's first gradient,
//! whose later calls take 0.28 s and 0.05 s (docs/PERFORMANCE.md). CubeCL keeps compiled
//! kernels (SPIR-V, PTX) on disk only when its configuration names a cache, and by default it
//! names none; so curvscope names one before the first kernel.

use std::path::PathBuf;
use std::sync::{Arc, Once};

use cubecl_runtime::config::cache::CacheConfig;
use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig};

/// Where compiled kernels go when no CubeCL configuration file names a place:
/// `$XDG_CACHE_HOME/curvscope/kernels`, else `~/.cache/curvscope/kernels`.
pub fn default_kernel_cache() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("curvscope").join("kernels"))
}

/// Turns CubeCL's on-disk kernel cache on; [`crate::BurnObjective::new`] calls it. A
/// `cubecl.toml` (or a `burn.toml` with a `[cubecl]` section) in the working directory or above
/// is read as CubeCL would and wins where it names a cache; otherwise kernels go to
/// [`default_kernel_cache`]. Does nothing once CubeCL has read its configuration.
///
/// ```
/// curvscope_model::keep_compiled_kernels();
/// ```
pub fn keep_compiled_kernels() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut state = CubeClRuntimeConfig::storage().lock();
        if state.is_some() {
            return;
        }
        let config = CubeClRuntimeConfig::from_current_dir().override_from_env();
        *state = Some(Arc::new(with_kernel_cache(config)));
    });
}

/// `config` with [`default_kernel_cache`] as its kernel cache, unless it names one.
fn with_kernel_cache(mut config: CubeClRuntimeConfig) -> CubeClRuntimeConfig {
    if config.compilation.cache.is_none() {
        config.compilation.cache = default_kernel_cache().map(CacheConfig::File);
    }
    config
}

#[cfg(test)]
mod tests {
    use cubecl_runtime::config::cache::CacheConfig;
    use cubecl_runtime::config::CubeClRuntimeConfig;

    use super::{default_kernel_cache, with_kernel_cache};

    /// CubeCL's default names no cache, so curvscope's folder is used; a named one is kept.
    #[test]
    fn a_kernel_cache_is_named_unless_configured() {
        let config = with_kernel_cache(CubeClRuntimeConfig::default());
        match &config.compilation.cache {
            Some(CacheConfig::File(dir)) => assert_eq!(Some(dir.clone()), default_kernel_cache()),
            other => panic!("kernel cache {other:?}"),
        }
        let mut configured = CubeClRuntimeConfig::default();
        configured.compilation.cache = Some(CacheConfig::Target);
        let config = with_kernel_cache(configured);
        assert!(matches!(
            config.compilation.cache,
            Some(CacheConfig::Target)
        ));
    }
}
