//! Expiring puts (time to live): the value layout of a
//! [`ValueKind::ExpiringPut`](crate::ValueKind::ExpiringPut) entry, and the
//! [`Clock`] that says when it has expired.
//!
//! An expiring put's stored value is `expiry_unix_ms: u64 LE | user value`:
//! the absolute time (milliseconds since the Unix epoch) from which readers
//! treat the entry as deleted. Every layer carries the stored value
//! unchanged; readers and compactions split it with [`split_expiring`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};

use crate::DecodeError;

/// Bytes of the expiry that starts an expiring put's stored value.
pub const EXPIRY_BYTES: usize = 8;

/// The wall clock that decides expiry, injectable so that tests move time
/// by hand ([`ManualClock`]).
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_unix_ms(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_ms(&self) -> u64 {
        // A clock before the epoch reads as the epoch: nothing expires early.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that stands still until moved ([`ManualClock::advance_ms`]).
#[derive(Debug, Default)]
pub struct ManualClock {
    now_unix_ms: AtomicU64,
}

impl ManualClock {
    /// A clock reading `now_unix_ms`.
    pub fn new(now_unix_ms: u64) -> Self {
        Self {
            now_unix_ms: AtomicU64::new(now_unix_ms),
        }
    }

    /// Moves the clock forward by `ms`.
    pub fn advance_ms(&self, ms: u64) {
        self.now_unix_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock to `now_unix_ms`.
    pub fn set_unix_ms(&self, now_unix_ms: u64) {
        self.now_unix_ms.store(now_unix_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix_ms(&self) -> u64 {
        self.now_unix_ms.load(Ordering::SeqCst)
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now_unix_ms(&self) -> u64 {
        self.as_ref().now_unix_ms()
    }
}

/// The stored value of an expiring put of `value` that expires at
/// `expiry_unix_ms`.
pub fn encode_expiring(expiry_unix_ms: u64, value: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(EXPIRY_BYTES + value.len());
    out.put_u64_le(expiry_unix_ms);
    out.put_slice(value);
    out.freeze()
}

/// Splits an expiring put's stored value into its expiry and the user
/// value (sharing `stored`'s buffer).
pub fn split_expiring(stored: &Bytes) -> Result<(u64, Bytes), DecodeError> {
    let expiry: [u8; EXPIRY_BYTES] = stored
        .get(..EXPIRY_BYTES)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| DecodeError::Invalid {
            what: "expiring value",
            detail: format!(
                "{} bytes, shorter than its {EXPIRY_BYTES}-byte expiry",
                stored.len()
            ),
        })?;
    Ok((u64::from_le_bytes(expiry), stored.slice(EXPIRY_BYTES..)))
}

/// Whether an entry expiring at `expiry_unix_ms` has expired at
/// `now_unix_ms` (expiry is inclusive: at the expiry instant it is gone).
#[inline]
pub fn is_expired(expiry_unix_ms: u64, now_unix_ms: u64) -> bool {
    now_unix_ms >= expiry_unix_ms
}

/// The user value of an expiring put's `stored` value at `now_unix_ms`:
/// `None` once it has expired.
pub fn live_value(stored: &Bytes, now_unix_ms: u64) -> Result<Option<Bytes>, DecodeError> {
    let (expiry_unix_ms, value) = split_expiring(stored)?;
    Ok((!is_expired(expiry_unix_ms, now_unix_ms)).then_some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiring_value_splits_back_and_expires_at_its_instant() {
        let stored = encode_expiring(1_000, b"value");
        assert_eq!(stored.len(), EXPIRY_BYTES + 5);
        assert_eq!(
            split_expiring(&stored).unwrap(),
            (1_000, Bytes::from_static(b"value"))
        );
        assert_eq!(
            live_value(&stored, 999).unwrap().as_deref(),
            Some(&b"value"[..])
        );
        assert_eq!(live_value(&stored, 1_000).unwrap(), None);
        assert!(split_expiring(&Bytes::from_static(b"short")).is_err());
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(5);
        assert_eq!(clock.now_unix_ms(), 5);
        clock.advance_ms(10);
        assert_eq!(clock.now_unix_ms(), 15);
        clock.set_unix_ms(3);
        assert_eq!(clock.now_unix_ms(), 3);
    }
}
