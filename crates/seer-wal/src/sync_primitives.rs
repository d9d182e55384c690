//! The synchronisation primitives and threads of the commit pipeline,
//! behind one shim:
//! `std` normally, `loom` under `--cfg loom`, so the loom models check the
//! very code that runs in production.
//!
//! Poisoned std mutexes are entered anyway: the pipeline keeps its own
//! poison flag and never leaves its state half-updated across a panic point.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(loom)]
pub(crate) use loom::thread::{yield_now, Builder as ThreadBuilder, JoinHandle};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::thread::{yield_now, Builder as ThreadBuilder, JoinHandle};

/// Starts a thread named `name` running `work`.
pub(crate) fn spawn_named<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<JoinHandle<T>> {
    ThreadBuilder::new().name(name.to_owned()).spawn(work)
}

/// Locks `mutex`, entering it even if a panicking thread poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits on `condvar`, releasing and re-taking the guard's mutex.
pub(crate) fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar
        .wait(guard)
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
