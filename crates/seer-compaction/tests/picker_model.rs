//! The picker against a model of the data: fake tables whose contents (the
//! newest version of each key) are kept in memory, flushed, picked (also
//! several at once, and manual ranges), merged and installed in random
//! order, while the picker options and the policy are redrawn between steps
//! (the base level moves down when `T` grows or `base_level_bytes` is
//! raised, and up again; the space-amplification bound comes and goes).
//! After every installed compaction the version must
//! pass the invariant checker and every key must read, through the version
//! in read order, what was written last: a deleted key stays deleted.
//! The merges cut their outputs at the target size and where the executor's
//! [`AgeBounds`] says the age rule needs it, and table-granular (partial)
//! compactions into leveled runs must occur, level 0's among them: flushes
//! cut their runs at the picker's `flush_split_keys`.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use seer_compaction::picker::{
    Compaction, CompactionReason, CompactionsInProgress, ManualPick, Picker, PickerOptions,
};
use seer_compaction::{AgeBounds, PolicyParams, TableMeta, Version, VersionEdit};
use seer_core::{InternalKey, ValueKind};

const LEVELS: usize = 6;
const KEYS: u8 = 40;
const ENTRY_BYTES: u64 = 100;

/// One key's newest version in a table: its sequence number and whether it
/// is a put (else a tombstone).
type Entry = (u64, bool);

/// A deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

struct Model {
    version: Version,
    contents: HashMap<u64, BTreeMap<u8, Entry>>,
    /// The last write of each key: `Some(seq)` for a put, `None` deleted.
    expected: BTreeMap<u8, Option<u64>>,
    picker: Picker,
    params: PolicyParams,
    in_progress: CompactionsInProgress,
    /// Running compactions, each with its new run id and the version it
    /// was picked from.
    pending: Vec<(Compaction, u64, Version)>,
    next_number: u64,
    next_seq: u64,
    installed: usize,
    tombstones_dropped: usize,
    manual_picks: usize,
    partial_picks: usize,
    /// Compactions taking part of a level-0 run (issue 14's level-0
    /// slices of runs cut at the flush splits).
    level0_partial_picks: usize,
    concurrent_picks: usize,
    space_picks: usize,
    /// Space-amplification compactions moving level 0 down (level 0
    /// counts in the space bound).
    level0_space_picks: usize,
}

impl Model {
    fn new(rng: &mut Rng) -> Self {
        Self {
            version: Version::empty(LEVELS),
            contents: HashMap::new(),
            expected: BTreeMap::new(),
            picker: Picker::new(draw_options(rng)),
            params: draw_params(rng),
            in_progress: CompactionsInProgress::new(),
            pending: Vec::new(),
            next_number: 1,
            next_seq: 1,
            installed: 0,
            tombstones_dropped: 0,
            manual_picks: 0,
            partial_picks: 0,
            level0_partial_picks: 0,
            concurrent_picks: 0,
            space_picks: 0,
            level0_space_picks: 0,
        }
    }

    fn new_number(&mut self) -> u64 {
        self.next_number += 1;
        self.next_number
    }

    fn table(&mut self, entries: BTreeMap<u8, Entry>) -> Arc<TableMeta> {
        let number = self.new_number();
        let key =
            |user_key: u8, seq| InternalKey::new(Bytes::from(vec![user_key]), seq, ValueKind::Put);
        let (&first, &(first_seq, _)) = entries.first_key_value().unwrap();
        let (&last, &(last_seq, _)) = entries.last_key_value().unwrap();
        let count = entries.len() as u64;
        let meta = TableMeta {
            file_number: number,
            file_size_bytes: count * ENTRY_BYTES,
            smallest: key(first, first_seq),
            largest: key(last, last_seq),
            smallest_seq: entries.values().map(|&(seq, _)| seq).min().unwrap(),
            largest_seq: entries.values().map(|&(seq, _)| seq).max().unwrap(),
            entry_count: count,
            tombstone_count: entries.values().filter(|(_, put)| !put).count() as u64,
            merge_count: 0,
            raw_key_bytes: count,
            raw_value_bytes: count * ENTRY_BYTES,
            earliest_expiry_unix_ms: None,
        };
        self.contents.insert(number, entries);
        Arc::new(meta)
    }

    fn flush(&mut self, rng: &mut Rng) {
        let mut entries = BTreeMap::new();
        for _ in 0..1 + rng.below(8) {
            let key = rng.below(u64::from(KEYS)) as u8;
            let put = rng.below(10) >= 3;
            let seq = self.next_seq;
            self.next_seq += 1;
            entries.insert(key, (seq, put));
            self.expected.insert(key, put.then_some(seq));
        }
        // Cut at the picker's flush splits, as the database's flush does
        // (without its minimum table size: the model's tables are tiny).
        let splits = self.picker.flush_split_keys(&self.version, self.params);
        let run_id = self.new_number();
        let mut edit = VersionEdit::new();
        let mut rest = entries;
        for split in splits.iter().rev() {
            let Some(&split) = split.first() else {
                continue;
            };
            let above = rest.split_off(&split);
            if !above.is_empty() {
                let table = self.table(above);
                edit.add_table(0, run_id, table);
            }
        }
        if !rest.is_empty() {
            let table = self.table(rest);
            edit.add_table(0, run_id, table);
        }
        self.install(&edit);
    }

    fn start(&mut self, compaction: Compaction) {
        if self.is_partial(&compaction) {
            self.partial_picks += 1;
        }
        if self.splits_a_level0_run(&compaction) {
            self.level0_partial_picks += 1;
        }
        if !self.pending.is_empty() {
            self.concurrent_picks += 1;
        }
        if matches!(
            compaction.reason,
            CompactionReason::SpaceAmplification { .. }
        ) {
            self.space_picks += 1;
            if compaction.inputs.iter().any(|input| input.level == 0) {
                self.level0_space_picks += 1;
            }
        }
        self.in_progress.register(&compaction);
        let run_id = self.new_number();
        let version = self.version.clone();
        self.pending.push((compaction, run_id, version));
    }

    /// Whether `compaction` takes some tables of a level-0 run and leaves
    /// others (possible only with flushes cut at split keys).
    fn splits_a_level0_run(&self, compaction: &Compaction) -> bool {
        compaction
            .inputs
            .iter()
            .filter(|input| input.level == 0)
            .any(|input| {
                self.version.levels()[0]
                    .runs()
                    .iter()
                    .find(|run| run.run_id() == input.run_id)
                    .is_some_and(|run| input.tables.len() < run.tables().len())
            })
    }

    /// Whether `compaction` leaves tables of its source level behind.
    fn is_partial(&self, compaction: &Compaction) -> bool {
        let Some(source) = compaction.inputs.first() else {
            return false;
        };
        let taken = compaction
            .inputs
            .iter()
            .filter(|input| input.level == source.level)
            .map(|input| input.tables.len())
            .sum::<usize>();
        source.level != compaction.output_level
            && taken < self.version.levels()[source.level].table_count()
    }

    fn pick(&mut self) {
        if let Some(compaction) = self
            .picker
            .pick(&self.version, self.params, &self.in_progress)
        {
            self.start(compaction);
        }
    }

    fn pick_manual(&mut self, rng: &mut Rng) {
        let a = rng.below(u64::from(KEYS)) as u8;
        let b = a.saturating_add(rng.below(6) as u8);
        let range = (&[a][..], &[b][..]);
        let pick =
            self.picker
                .pick_manual(&self.version, self.params, Some(range), &self.in_progress);
        if let ManualPick::Compaction(compaction) = pick {
            self.manual_picks += 1;
            self.start(compaction);
        }
    }

    /// Merges and installs pending compaction `index`.
    fn finish(&mut self, index: usize) {
        let (compaction, new_run_id, picked_from) = self.pending.swap_remove(index);
        let run_id = compaction.output_run_id.unwrap_or(new_run_id);
        let edit = if compaction.is_trivial_move() {
            compaction.trivial_move_edit(run_id)
        } else {
            let mut merged: BTreeMap<u8, Entry> = BTreeMap::new();
            for table in compaction.input_tables() {
                for (&key, &entry) in &self.contents[&table.file_number] {
                    let newest = merged.entry(key).or_insert(entry);
                    if entry.0 > newest.0 {
                        *newest = entry;
                    }
                }
            }
            if compaction.bottommost {
                let before = merged.len();
                merged.retain(|_, (_, put)| *put);
                self.tombstones_dropped += before - merged.len();
            }
            let per_table = (compaction.target_file_size_bytes / ENTRY_BYTES).max(1) as usize;
            let bounds = AgeBounds::new(&picked_from, &compaction, run_id);
            let mut age = bounds.cursor();
            let mut chunks: Vec<BTreeMap<u8, Entry>> = Vec::new();
            for (key, entry) in merged {
                let full = chunks.last().is_some_and(|chunk| chunk.len() >= per_table);
                if full {
                    age.cut();
                }
                let too_old = age.needs_cut(&[key], entry.0, entry.0);
                match chunks.last_mut() {
                    Some(chunk) if !full && !too_old => {
                        chunk.insert(key, entry);
                    }
                    _ => chunks.push(BTreeMap::from([(key, entry)])),
                }
            }
            let mut edit = compaction.removal_edit();
            for chunk in chunks {
                let table = self.table(chunk);
                edit.add_table(compaction.output_level, run_id, table);
            }
            edit
        };
        self.install(&edit);
        self.in_progress.finish(&compaction);
    }

    fn install(&mut self, edit: &VersionEdit) {
        self.version = self.version.apply(edit).unwrap();
        self.installed += 1;
        if let Err(violation) = self.version.check_invariants() {
            panic!("{violation}\n{:#?}", self.version);
        }
        for key in 0..KEYS {
            let expected = self.expected.get(&key).copied().flatten();
            assert_eq!(self.read(key), expected, "key {key}");
        }
    }

    /// A point read through the version: the first run (in read order)
    /// holding the key decides.
    fn read(&self, key: u8) -> Option<u64> {
        for (_, run) in self.version.runs_newest_first() {
            let Some(table) = run.table_for_key(&[key]) else {
                continue;
            };
            if let Some(&(seq, put)) = self.contents[&table.file_number].get(&key) {
                return put.then_some(seq);
            }
        }
        None
    }
}

fn draw_options(rng: &mut Rng) -> PickerOptions {
    PickerOptions {
        l0_trigger_runs: 1 + rng.below(4) as usize,
        base_level_bytes: ENTRY_BYTES * (1 + rng.below(30)),
        target_file_size_bytes: ENTRY_BYTES * (1 + rng.below(12)),
        max_space_amplification: [f64::INFINITY, 1.2, 1.5, 3.0][rng.below(4) as usize],
    }
}

fn draw_params(rng: &mut Rng) -> PolicyParams {
    let t = 2 + rng.below(7) as u32;
    match rng.below(4) {
        0 => PolicyParams::leveling(t),
        1 => PolicyParams::tiering(t),
        2 => PolicyParams::lazy_leveling(t),
        _ => {
            let k = 1 + rng.below(u64::from(t - 1)) as u32;
            let z = 1 + rng.below(u64::from(t - 1)) as u32;
            PolicyParams::new(t, k, z)
        }
    }
    .unwrap()
}

/// Issue 11, defect 1 and its net: whatever the options do to the base
/// level, the picker keeps newer data above older data and drops no
/// tombstone over older data.
#[test]
fn picking_under_redrawn_options_keeps_the_invariants_and_every_delete() {
    let (mut installed, mut dropped, mut manual) = (0, 0, 0);
    let (mut partial, mut concurrent, mut space, mut level0_partial) = (0, 0, 0, 0);
    let mut level0_space = 0;
    for seed in 1..=12u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut model = Model::new(&mut rng);
        for _ in 0..3000 {
            match rng.below(100) {
                0..=29 => model.flush(&mut rng),
                30..=54 if model.pending.len() < 3 => model.pick(),
                55..=62 if model.pending.len() < 3 => model.pick_manual(&mut rng),
                63..=94 if !model.pending.is_empty() => {
                    let index = rng.below(model.pending.len() as u64) as usize;
                    model.finish(index);
                }
                95..=97 => model.picker = Picker::new(draw_options(&mut rng)),
                98..=99 => model.params = draw_params(&mut rng),
                _ => {}
            }
        }
        while !model.pending.is_empty() {
            model.finish(0);
        }
        installed += model.installed;
        dropped += model.tombstones_dropped;
        manual += model.manual_picks;
        partial += model.partial_picks;
        level0_partial += model.level0_partial_picks;
        concurrent += model.concurrent_picks;
        space += model.space_picks;
        level0_space += model.level0_space_picks;
    }
    // The run exercised what it claims to.
    assert!(installed > 10_000, "{installed} versions installed");
    assert!(dropped > 100, "{dropped} tombstones dropped");
    assert!(manual > 100, "{manual} manual picks");
    assert!(partial > 100, "{partial} partial compactions");
    assert!(
        level0_partial > 100,
        "{level0_partial} compactions taking part of a level-0 run"
    );
    assert!(
        concurrent > 100,
        "{concurrent} compactions picked beside running ones"
    );
    assert!(space > 20, "{space} space-amplification compactions");
    assert!(
        level0_space > 10,
        "{level0_space} space-amplification compactions of level 0"
    );
}
