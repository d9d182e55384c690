//! A `BTreeMap` engine for the harness's own tests: clones share one map, so
//! a test can load it, "close" it and run another workload on the same data.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use crate::engine::{
    decode_counter, BatchOp, Direction, Engine, EngineReport, ScanPerSeek, SeekCursor,
};
use crate::error::Result;

/// The shared map.
#[derive(Clone, Default)]
pub struct MemEngine {
    map: Arc<RwLock<BTreeMap<Vec<u8>, Vec<u8>>>>,
}

impl MemEngine {
    /// Entries stored.
    pub fn len(&self) -> usize {
        self.map.read().unwrap().len()
    }

    /// The sum of every value read as a u64 counter.
    pub fn counter_sum(&self) -> u64 {
        let map = self.map.read().unwrap();
        map.values().map(|value| decode_counter(Some(value))).sum()
    }
}

impl Engine for MemEngine {
    fn name(&self) -> &'static str {
        "mem"
    }

    fn put(&self, key: &[u8], value: &[u8], _sync: bool) -> Result<()> {
        self.map
            .write()
            .unwrap()
            .insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn get(&self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool> {
        let map = self.map.read().unwrap();
        Ok(map.get(key).map(|value| visit(value)).is_some())
    }

    fn delete(&self, key: &[u8], _sync: bool) -> Result<()> {
        self.map.write().unwrap().remove(key);
        Ok(())
    }

    fn merge(&self, key: &[u8], operand: &[u8], _sync: bool) -> Result<()> {
        let mut map = self.map.write().unwrap();
        let sum = decode_counter(map.get(key).map(Vec::as_slice)) + decode_counter(Some(operand));
        map.insert(key.to_vec(), sum.to_le_bytes().to_vec());
        Ok(())
    }

    fn write_batch(&self, ops: &[BatchOp<'_>], _sync: bool) -> Result<()> {
        let mut map = self.map.write().unwrap();
        for op in ops {
            match *op {
                BatchOp::Put { key, value } => map.insert(key.to_vec(), value.to_vec()),
                BatchOp::Delete { key } => map.remove(key),
                BatchOp::DeleteRange { start, end } => {
                    let doomed: Vec<Vec<u8>> = map
                        .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)))
                        .map(|(key, _)| key.clone())
                        .collect();
                    for key in doomed {
                        map.remove(&key);
                    }
                    None
                }
            };
        }
        Ok(())
    }

    fn scan(
        &self,
        start: Option<&[u8]>,
        direction: Direction,
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<u64> {
        let map = self.map.read().unwrap();
        let entries: Box<dyn Iterator<Item = (&Vec<u8>, &Vec<u8>)>> = match (start, direction) {
            (None, Direction::Forward) => Box::new(map.iter()),
            (None, Direction::Reverse) => Box::new(map.iter().rev()),
            (Some(start), Direction::Forward) => {
                Box::new(map.range::<[u8], _>((Bound::Included(start), Bound::Unbounded)))
            }
            (Some(start), Direction::Reverse) => Box::new(
                map.range::<[u8], _>((Bound::Unbounded, Bound::Included(start)))
                    .rev(),
            ),
        };
        let mut visited = 0;
        for (key, value) in entries.take(limit) {
            visited += 1;
            if !visit(key, value) {
                break;
            }
        }
        Ok(visited)
    }

    fn cursor(&self) -> Result<Box<dyn SeekCursor + '_>> {
        Ok(Box::new(ScanPerSeek(self)))
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn report(&self) -> EngineReport {
        EngineReport::default()
    }

    fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}
