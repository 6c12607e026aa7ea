//! Keeping freed tensor buffers in the heap (glibc only).
//!
//! burn's CPU backend allocates fresh multi-megabyte buffers at every training step (activations,
//! gradients, im2col workspaces). glibc serves blocks above its mmap threshold with `mmap` and
//! gives them back with `munmap`, so every step page-faults and zeroes the same memory again
//! (≈ 15 % of child training in the session-3 profile). Raising the threshold to glibc's maximum
//! (32 MiB) and never trimming the heap top keeps those buffers for reuse: measured with
//! `nas bench child --no-pytorch --batch 64 --steps 20`, three alternations, chain3 199 → 283
//! img/s (+41 %), skip6 61 → 67.6 (+10 %), stride4 449 → 439 (noise). The process keeps its peak
//! memory instead of returning it between steps. `NAS_GLIBC_MALLOC=default` leaves glibc alone
//! (for comparisons).

/// Apply the tuning unless `NAS_GLIBC_MALLOC=default`; returns whether it was applied.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn keep_freed_buffers() -> bool {
    if std::env::var("NAS_GLIBC_MALLOC").as_deref() == Ok("default") {
        return false;
    }
    // SAFETY: mallopt only changes allocator parameters; it is called once, before any thread
    // that allocates tensors exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1 && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
    }
}

/// Other platforms: nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_freed_buffers() -> bool {
    false
}
