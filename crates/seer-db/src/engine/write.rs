//! The write path: validation of key and value sizes, admission through
//! backpressure, the commit pipeline (which assigns sequence numbers, logs,
//! applies to the active memtable and publishes `visible_seq`), and the
//! memtable switch, which rolls the WAL through the pipeline so that it
//! happens between commit groups.

use std::sync::Arc;
use std::time::Duration;

use seer_core::expiry::EXPIRY_BYTES;
use seer_core::SeqNo;
use seer_wal::{WriteOp, WriteOptions, WriteRecord};

use super::Engine;
use crate::backpressure::Stall;
use crate::batch::{
    copy_key, key_and_expiring_value, key_and_value, op_payload_bytes, ttl_ms, Batch,
};
use crate::error::{Error, Result};
use crate::keyspace_routes::FlushRequest;
use crate::metrics::Op;

/// A named keyspace's part of a keyed batch: its engine, the bytes of its
/// ops' keys and values and how many they are.
struct KeyspaceShare {
    engine: Arc<Engine>,
    payload_bytes: usize,
    ops_count: u64,
}

/// How a commit holds the commit gate.
enum Gate<'a> {
    /// A plain write: shared with every other plain write.
    Shared,
    /// A validated write: alone, with its validation.
    Exclusive(Box<dyn FnOnce() -> Result<()> + 'a>),
}

impl Engine {
    pub(crate) fn put(&self, key: &[u8], value: &[u8], options: WriteOptions) -> Result<SeqNo> {
        if let Some(ttl) = self.options.default_ttl {
            return self.put_with_ttl(key, value, ttl, options);
        }
        self.check_sizes(key, Some(value))?;
        let (key, value) = key_and_value(key, value);
        self.commit_one(WriteOp::Put { key, value }, options)
    }

    /// Writes an expiring put of `value` that expires `ttl` from now by
    /// the database's clock.
    pub(crate) fn put_with_ttl(
        &self,
        key: &[u8],
        value: &[u8],
        ttl: Duration,
        options: WriteOptions,
    ) -> Result<SeqNo> {
        self.check_sizes(key, Some(value))?;
        let expiry_unix_ms = self.options.clock.now_unix_ms().saturating_add(ttl_ms(ttl));
        let (key, stored) = key_and_expiring_value(key, expiry_unix_ms, value);
        self.commit_one(WriteOp::ExpiringPut { key, stored }, options)
    }

    pub(crate) fn delete(&self, key: &[u8], options: WriteOptions) -> Result<SeqNo> {
        self.check_sizes(key, None)?;
        self.commit_one(WriteOp::Delete { key: copy_key(key) }, options)
    }

    pub(crate) fn merge(&self, key: &[u8], operand: &[u8], options: WriteOptions) -> Result<SeqNo> {
        self.check_merge_operator()?;
        self.check_sizes(key, Some(operand))?;
        let (key, operand) = key_and_value(key, operand);
        self.commit_one(WriteOp::Merge { key, operand }, options)
    }

    /// Deletes `start..end` with one range tombstone.
    pub(crate) fn delete_range(
        &self,
        start: &[u8],
        end: &[u8],
        options: WriteOptions,
    ) -> Result<SeqNo> {
        self.check_sizes(start, None)?;
        self.check_sizes(end, None)?;
        let (start, end) = key_and_value(start, end);
        self.commit_one(WriteOp::DeleteRange { start, end }, options)
    }

    /// Commits one operation, accounted under its own [`Op`]. The callers
    /// check sizes before they copy the key and value, so an oversized
    /// write is refused without allocating for it.
    fn commit_one(&self, write: WriteOp, options: WriteOptions) -> Result<SeqNo> {
        let op = match write {
            WriteOp::Put { .. } | WriteOp::ExpiringPut { .. } => Op::Put,
            WriteOp::Delete { .. } | WriteOp::DeleteRange { .. } => Op::Delete,
            WriteOp::Merge { .. } => Op::Merge,
        };
        self.commit(op, WriteRecord::Single(write), options)
    }

    /// Applies `batch` atomically, consuming it.
    pub(crate) fn write_owned_batch(&self, batch: Batch, options: WriteOptions) -> Result<SeqNo> {
        self.check_batch(&batch)?;
        if batch.is_empty() {
            self.check_open()?;
            return Ok(self.visible_seq());
        }
        let named = batch.named_keyspaces();
        let record = self.stamped(batch);
        let seq = self.commit(Op::Write, record, options)?;
        self.switch_full_keyspaces(&named)?;
        Ok(seq)
    }

    /// Checks each op of `batch` against the options of its keyspace
    /// (which must be open in this database).
    fn check_batch(&self, batch: &Batch) -> Result<()> {
        batch
            .ops()
            .iter()
            .enumerate()
            .try_for_each(|(index, op)| match batch.keyspace_of(index) {
                seer_wal::DEFAULT_KEYSPACE => self.check_op(op),
                id => self.open_keyspace_by_id(id)?.check_op(op),
            })
    }

    /// Switches the full memtables of the named keyspaces `ids` a batch of
    /// this (the database's) engine wrote to, as their own writes would.
    fn switch_full_keyspaces(&self, ids: &[seer_wal::KeyspaceId]) -> Result<()> {
        for &id in ids {
            let keyspace = self.open_keyspace_by_id(id)?;
            let _active = keyspace.lifecycle.enter()?;
            keyspace.maybe_switch_memtable()?;
        }
        Ok(())
    }

    /// Checks an operation's key and value sizes, and that a merge has a
    /// merge operator to combine it.
    fn check_op(&self, op: &WriteOp) -> Result<()> {
        match op {
            WriteOp::Put { key, value } => self.check_sizes(key, Some(value)),
            WriteOp::ExpiringPut { key, stored } => {
                self.check_sizes(key, stored.get(EXPIRY_BYTES..))
            }
            WriteOp::Delete { key } => self.check_sizes(key, None),
            WriteOp::Merge { key, operand } => {
                self.check_merge_operator()?;
                self.check_sizes(key, Some(operand))
            }
            WriteOp::DeleteRange { start, end } => {
                self.check_sizes(start, None)?;
                self.check_sizes(end, None)
            }
        }
    }

    /// `batch`'s record, its expiries stamped by the clock now (the plain
    /// puts of each keyspace with its own default time to live).
    fn stamped(&self, batch: Batch) -> WriteRecord {
        batch.into_record_at(self.options.clock.now_unix_ms(), |id| {
            if id == self.keyspace_id() {
                return self.options.default_ttl;
            }
            self.open_keyspace_by_id(id)
                .ok()
                .and_then(|keyspace| keyspace.options.default_ttl)
        })
    }

    fn check_merge_operator(&self) -> Result<()> {
        if self.options.merge_operator.is_none() {
            return Err(Error::invalid("merge needs a merge_operator in DBOptions"));
        }
        Ok(())
    }

    #[inline]
    fn check_sizes(&self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        if key.len() > self.options.max_key_size_bytes {
            return Err(Error::invalid(format!(
                "key of {} bytes exceeds max_key_size {}",
                key.len(),
                self.options.max_key_size_bytes
            )));
        }
        match value {
            Some(value) if value.len() > self.options.max_value_size_bytes => {
                Err(Error::invalid(format!(
                    "value of {} bytes exceeds max_value_size {}",
                    value.len(),
                    self.options.max_value_size_bytes
                )))
            }
            _ => Ok(()),
        }
    }

    /// Applies `batch` atomically after `validate` passed, with no other
    /// write sequenced between the validation and the batch (transaction
    /// commits). Plain writes hold the commit gate shared; this holds it
    /// exclusively around `validate` and the write.
    pub(crate) fn write_batch_validated(
        &self,
        batch: &Batch,
        options: WriteOptions,
        validate: impl FnOnce() -> Result<()>,
    ) -> Result<SeqNo> {
        self.check_batch(batch)?;
        let record = self.stamped(batch.clone());
        let seq = self.commit_gated(
            Op::Write,
            record,
            options,
            Gate::Exclusive(Box::new(validate)),
        )?;
        self.switch_full_keyspaces(&batch.named_keyspaces())?;
        Ok(seq)
    }

    /// Admits, commits and accounts one record; switches the memtable when
    /// it is full.
    fn commit(&self, op: Op, record: WriteRecord, options: WriteOptions) -> Result<SeqNo> {
        self.commit_gated(op, record, options, Gate::Shared)
    }

    fn commit_gated(
        &self,
        op: Op,
        record: WriteRecord,
        options: WriteOptions,
        gate: Gate<'_>,
    ) -> Result<SeqNo> {
        // Inside the lifecycle gate from admission to the memtable switch:
        // `close` waits for this write, so it never appends to or rolls the
        // WAL after `close` returned.
        let _active = self.lifecycle.enter()?;
        self.health.check_writable()?;
        let payload_bytes: usize = record.ops().iter().map(op_payload_bytes).sum();
        self.admit(payload_bytes)?;
        // The named keyspaces a keyed batch writes to admit their share.
        let shares = self.keyspace_shares(&record)?;
        Self::admit_keyspaces(&shares)?;
        let seq = match gate {
            Gate::Shared => {
                let _shared = self.commit_gate.read();
                self.commit_record(op, record, options, payload_bytes, &shares)?
            }
            Gate::Exclusive(validate) => {
                let _exclusive = self.commit_gate.write();
                validate()?;
                self.commit_record(op, record, options, payload_bytes, &shares)?
            }
        };
        self.maybe_switch_memtable()?;
        self.routes
            .bound_memtables(self.options.memtable_bound_bytes())?;
        Ok(seq)
    }

    /// Admits `payload_bytes` through this keyspace's backpressure.
    fn admit(&self, payload_bytes: usize) -> Result<()> {
        let stall = Stall {
            tree: &self.tree,
            jobs: &self.jobs,
            health: &self.health,
            lifecycle: &self.lifecycle,
            metrics: &self.metrics,
        };
        self.backpressure.admit(&stall, payload_bytes)
    }

    /// The share of each named keyspace in `record` (a keyed batch of the
    /// database's engine): its engine, payload bytes and ops.
    fn keyspace_shares(&self, record: &WriteRecord) -> Result<Vec<KeyspaceShare>> {
        if !matches!(record, WriteRecord::Keyed { .. }) {
            return Ok(Vec::new());
        }
        let mut by_keyspace: std::collections::BTreeMap<seer_wal::KeyspaceId, (usize, u64)> =
            std::collections::BTreeMap::new();
        for (index, op) in record.ops().iter().enumerate() {
            match record.keyspace_of(index) {
                seer_wal::DEFAULT_KEYSPACE => {}
                id => {
                    let share = by_keyspace.entry(id).or_default();
                    share.0 += op_payload_bytes(op);
                    share.1 += 1;
                }
            }
        }
        by_keyspace
            .into_iter()
            .map(|(id, (payload_bytes, ops_count))| {
                Ok(KeyspaceShare {
                    engine: self.open_keyspace_by_id(id)?,
                    payload_bytes,
                    ops_count,
                })
            })
            .collect()
    }

    /// Admits each named keyspace's share of a keyed batch through that
    /// keyspace's own backpressure, so a keyspace written only by batches
    /// still stalls when its flushes lag.
    fn admit_keyspaces(shares: &[KeyspaceShare]) -> Result<()> {
        for share in shares {
            let _active = share.engine.lifecycle.enter()?;
            share.engine.admit(share.payload_bytes)?;
        }
        Ok(())
    }

    /// Logs and applies `record`, then counts its bytes: each named
    /// keyspace in `shares` counts its ops, their payload and the same share
    /// of the record's WAL bytes; this engine counts the rest.
    fn commit_record(
        &self,
        op: Op,
        record: WriteRecord,
        options: WriteOptions,
        payload_bytes: usize,
        shares: &[KeyspaceShare],
    ) -> Result<SeqNo> {
        if record.seq_count() == 0 {
            return Ok(self.visible_seq());
        }
        let timer = self.metrics.start(op);
        let wal_bytes = if options.disable_wal {
            0
        } else {
            record.encoded_len()
        };
        let ops_count = record.seq_count();
        let seq = self
            .pipeline
            .write(record, options)
            .map_err(|e| self.health.fail_write(e.into()))?;
        self.metrics.finish(timer);
        let (mut own_payload, mut own_wal, mut own_ops) =
            (payload_bytes as u64, wal_bytes as u64, ops_count);
        for share in shares {
            let payload = share.payload_bytes as u64;
            let wal = u64::try_from(
                u128::from(wal_bytes as u64) * u128::from(payload)
                    / u128::from((payload_bytes as u64).max(1)),
            )
            .unwrap_or(0);
            share
                .engine
                .metrics
                .record_write(payload, wal, share.ops_count);
            own_payload -= payload;
            own_wal = own_wal.saturating_sub(wal);
            own_ops = own_ops.saturating_sub(share.ops_count);
        }
        self.metrics.record_write(own_payload, own_wal, own_ops);
        Ok(seq)
    }

    /// Makes every write acknowledged before the call durable, whatever the
    /// sync policy, without writing a record: a persist request through the
    /// commit pipeline ([`CommitPipeline::persist`](seer_wal::CommitPipeline::persist)),
    /// which joins the next commit group as a member without a record, so
    /// concurrent calls and synced writes share that group's `fdatasync`
    /// (and a group with nothing new logged syncs nothing). A failed sync
    /// poisons the log, which turns the database read-only (as a failed
    /// sync of a write does).
    pub(crate) fn persist(&self) -> Result<()> {
        let _active = self.lifecycle.enter()?;
        self.pipeline
            .persist()
            .map(|_| ())
            .map_err(|e| self.health.fail_write(e.into()))
    }

    /// Switches the memtable when it is full (or the memory budget asks for
    /// an early flush).
    #[inline]
    fn maybe_switch_memtable(&self) -> Result<()> {
        let active = self.memtables.active();
        let full = active.should_flush() || self.backpressure.wants_early_flush(&active);
        if full {
            drop(active);
            self.switch_memtable(false)?;
        }
        Ok(())
    }

    /// Freezes the active memtable and starts a new one with a new WAL
    /// segment, at a point between commit groups; wakes the flush thread.
    /// Callers are inside the lifecycle gate (it rolls the WAL).
    /// `force` switches even a memtable that is not full (but never an
    /// empty one). Returns whether a switch happened. A switch rolls the
    /// WAL: when its segments then outgrow
    /// [`DBOptions::max_total_wal_bytes`](crate::DBOptions::max_total_wal_bytes),
    /// the keyspaces still holding data in the oldest one are switched too
    /// (see [`KeyspaceRoutes::bound_wal`](crate::keyspace_routes::KeyspaceRoutes::bound_wal)).
    pub(crate) fn switch_memtable(&self, force: bool) -> Result<bool> {
        let switched = self.switch_memtable_alone(force)?;
        if switched {
            self.routes.bound_wal(
                self.fs.as_ref(),
                &self.wal_dir,
                self.options.wal_bound_bytes(),
            )?;
        }
        Ok(switched)
    }

    /// [`Engine::switch_memtable`] of this keyspace alone.
    fn switch_memtable_alone(&self, force: bool) -> Result<bool> {
        let _switching = self.switch_lock.lock();
        let active = self.memtables.active_full();
        if active.is_empty()
            || !(force || active.should_flush() || self.backpressure.wants_early_flush(&active))
        {
            return Ok(false);
        }
        let next = self.memtables.new_memtable();
        // The spare segment prepared at the last roll (or at open), so the
        // roll creates no file; the next spare is prepared right after.
        let segment = self
            .pipeline
            .spare_segment()
            .unwrap_or_else(|| self.pipeline.new_segment_number(&self.tree));
        let memtables = Arc::clone(&self.memtables);
        self.pipeline
            .roll_with(segment, move |old_segment| {
                memtables.switch(next, old_segment)
            })
            .and_then(|_| {
                self.pipeline
                    .prepare_segment(self.pipeline.new_segment_number(&self.tree))
            })
            .map_err(|e| self.health.fail_write(e.into()))?;
        tracing::debug!(segment, "memtable switched");
        self.jobs.wake_flush();
        Ok(true)
    }
}

impl FlushRequest for Engine {
    /// Switches a non-empty memtable (a closed keyspace does nothing: what
    /// it did not flush is in the WAL, which the next open replays).
    fn request_flush(&self) -> Result<()> {
        let Ok(_active) = self.lifecycle.enter() else {
            return Ok(());
        };
        self.switch_memtable_alone(true).map(|_| ())
    }
}
