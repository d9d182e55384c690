//! The workloads: their names, what state each starts from, how many
//! operations it runs, and the parameters shared by all of them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::dist::KeyDist;
use crate::error::{BenchError, Result};

/// db_bench's `fillsync` writes `num / 1000` values; never fewer than this.
const MIN_FILLSYNC_OPS: u64 = 100;

/// Entries per batch in `fillbatch`, as db_bench.
pub const FILLBATCH_ENTRIES: usize = 1000;

/// Entries read per `seekrandom` operation: the seek, then 10 nexts.
pub const SEEK_ENTRIES: usize = 11;

/// `seekrandom` and YCSB E run `reads / SCAN_OPS_DIVISOR` operations.
pub const SCAN_OPS_DIVISOR: u64 = 10;

/// Longest YCSB E scan.
pub const YCSB_MAX_SCAN_ENTRIES: u64 = 100;

/// Messages the `queue` workload appends, then consumes, per round.
pub const QUEUE_CHUNK_MESSAGES: u64 = 100;

/// Messages the `queue` workload keeps between its head and its tail.
pub const QUEUE_BACKLOG_MESSAGES: u64 = 10_000;

/// Keys per batch of `deleteperkey`.
pub const DELETE_BATCH_KEYS: u64 = 1000;

/// The six YCSB core workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum YcsbMix {
    /// 50% read, 50% update.
    A,
    /// 95% read, 5% update.
    B,
    /// 100% read.
    C,
    /// 95% read of the latest keys, 5% insert.
    D,
    /// 95% short scan, 5% insert.
    E,
    /// 50% read, 50% read-modify-write.
    F,
}

impl YcsbMix {
    /// All six, in order.
    pub const ALL: [YcsbMix; 6] = [Self::A, Self::B, Self::C, Self::D, Self::E, Self::F];

    fn letter(self) -> char {
        match self {
            Self::A => 'a',
            Self::B => 'b',
            Self::C => 'c',
            Self::D => 'd',
            Self::E => 'e',
            Self::F => 'f',
        }
    }
}

/// One benchmark workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Workload {
    /// Writes `num` keys in ascending order.
    FillSeq,
    /// Writes `num` keys in a random order (each key once).
    FillRandom,
    /// Writes `num` keys in ascending order, 1000 per atomic batch.
    FillBatch,
    /// Overwrites `num` random keys of a loaded DB.
    Overwrite,
    /// Reads random present keys.
    ReadRandom,
    /// Reads random absent keys that fall between present ones.
    ReadMissing,
    /// Scans the whole DB forward.
    ReadSeq,
    /// Scans the whole DB backward.
    ReadReverse,
    /// Seeks to a random key and reads 10 more (`reads / 10` operations).
    SeekRandom,
    /// As [`Workload::SeekRandom`], through one cursor per thread reused
    /// for every seek ([`crate::Engine::cursor`]).
    SeekCursor,
    /// Deletes every key of a loaded DB in random order.
    DeleteRandom,
    /// Random reads on `threads` readers while one writer overwrites.
    ReadWhileWriting,
    /// Adds 1 (u64 add merge) to random keys.
    MergeRandom,
    /// Random writes with fdatasync per write, on this many threads.
    FillSync {
        /// Writer threads.
        threads: usize,
    },
    /// A YCSB core workload (E runs `reads / 10` operations).
    Ycsb {
        /// The operation mix.
        mix: YcsbMix,
        /// How keys are chosen.
        dist: KeyDist,
    },
    /// At scale: a random fill of `num` keys, then an overwrite of every
    /// key once in another random order, with the directory size sampled
    /// while it runs (one writer; not in `all`, name it).
    Scale,
    /// A queue on one thread: each round appends
    /// [`QUEUE_CHUNK_MESSAGES`] messages at the tail in one batch and, once
    /// [`QUEUE_BACKLOG_MESSAGES`] wait, reads as many from the head (a scan
    /// from the first key, over everything consumed before) and deletes
    /// them with one range delete. `num` messages in all (not in `all`,
    /// name it or the `rangedel` group).
    Queue,
    /// Deletes every key of a loaded DB in ascending order,
    /// [`DELETE_BATCH_KEYS`] per batch, then scans the emptied key range.
    DeletePerKey,
    /// Deletes every key of a loaded DB with one range delete, then scans
    /// the emptied key range.
    DeleteRange,
    /// Internal: builds the loaded DB the read workloads start from.
    Load,
}

/// What a workload's directory holds when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartState {
    /// An empty directory.
    Clean,
    /// A copy of the DB loaded with `num` keys by [`Workload::Load`].
    Loaded,
}

impl Workload {
    /// Every public workload, in the order of the default suite.
    pub fn all() -> Vec<Workload> {
        let mut all = vec![
            Self::FillSeq,
            Self::FillRandom,
            Self::FillBatch,
            Self::Overwrite,
            Self::ReadRandom,
            Self::ReadMissing,
            Self::ReadSeq,
            Self::ReadReverse,
            Self::SeekRandom,
            Self::SeekCursor,
            Self::DeleteRandom,
            Self::ReadWhileWriting,
            Self::MergeRandom,
            Self::FillSync { threads: 1 },
            Self::FillSync { threads: 16 },
        ];
        all.extend(Self::ycsb(&YcsbMix::ALL));
        all
    }

    /// The range-deletion group: `queue`, `deleteperkey`, `deleterange`.
    pub fn range_deletion() -> Vec<Workload> {
        vec![Self::Queue, Self::DeletePerKey, Self::DeleteRange]
    }

    fn ycsb(mixes: &[YcsbMix]) -> Vec<Workload> {
        mixes
            .iter()
            .flat_map(|&mix| {
                [KeyDist::Uniform, KeyDist::Zipfian].map(|dist| Self::Ycsb { mix, dist })
            })
            .collect()
    }

    /// Parses a comma-separated list; `all`, `fillsync`, `ycsb` and `ycsb-X`
    /// name groups.
    pub fn parse_list(list: &str) -> Result<Vec<Workload>> {
        let mut workloads = Vec::new();
        for name in list
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            let group = match name {
                "all" => Self::all(),
                "fillsync" => vec![
                    Self::FillSync { threads: 1 },
                    Self::FillSync { threads: 16 },
                ],
                "ycsb" => Self::ycsb(&YcsbMix::ALL),
                "rangedel" => Self::range_deletion(),
                _ => match YcsbMix::ALL
                    .into_iter()
                    .find(|mix| name == format!("ycsb-{}", mix.letter()))
                {
                    Some(mix) => Self::ycsb(&[mix]),
                    None => vec![name.parse()?],
                },
            };
            for workload in group {
                if !workloads.contains(&workload) {
                    workloads.push(workload);
                }
            }
        }
        if workloads.is_empty() {
            return Err(BenchError::InvalidArgument("no workload named".to_owned()));
        }
        Ok(workloads)
    }

    /// The workload's name, as `--workloads` takes it.
    pub fn name(self) -> String {
        match self {
            Self::FillSeq => "fillseq".into(),
            Self::FillRandom => "fillrandom".into(),
            Self::FillBatch => "fillbatch".into(),
            Self::Overwrite => "overwrite".into(),
            Self::ReadRandom => "readrandom".into(),
            Self::ReadMissing => "readmissing".into(),
            Self::ReadSeq => "readseq".into(),
            Self::ReadReverse => "readreverse".into(),
            Self::SeekRandom => "seekrandom".into(),
            Self::SeekCursor => "seekcursor".into(),
            Self::DeleteRandom => "deleterandom".into(),
            Self::ReadWhileWriting => "readwhilewriting".into(),
            Self::MergeRandom => "mergerandom".into(),
            Self::FillSync { threads } => format!("fillsync-{threads}"),
            Self::Ycsb { mix, dist } => format!("ycsb-{}-{}", mix.letter(), dist.name()),
            Self::Scale => "scale".into(),
            Self::Queue => "queue".into(),
            Self::DeletePerKey => "deleteperkey".into(),
            Self::DeleteRange => "deleterange".into(),
            Self::Load => "load".into(),
        }
    }

    /// The state the workload starts from.
    pub fn start_state(self) -> StartState {
        match self {
            Self::FillSeq
            | Self::FillRandom
            | Self::FillBatch
            | Self::MergeRandom
            | Self::FillSync { .. }
            | Self::Scale
            | Self::Queue
            | Self::Load => StartState::Clean,
            _ => StartState::Loaded,
        }
    }

    /// Worker threads: the fixed count of `fillsync-N`, one writer plus
    /// `threads` readers for `readwhilewriting`, else `threads`.
    pub fn thread_count(self, params: &RunParams) -> usize {
        match self {
            Self::FillSync { threads } => threads,
            Self::ReadWhileWriting => params.threads + 1,
            Self::Scale | Self::Queue | Self::DeletePerKey | Self::DeleteRange | Self::Load => 1,
            _ => params.threads,
        }
    }

    /// Operations the measured threads run in total (before any
    /// `--duration` cut).
    pub fn planned_ops(self, params: &RunParams) -> u64 {
        match self {
            Self::FillSeq
            | Self::FillRandom
            | Self::FillBatch
            | Self::Overwrite
            | Self::DeleteRandom
            | Self::MergeRandom
            | Self::Queue
            | Self::DeletePerKey
            | Self::DeleteRange
            | Self::Load => params.num,
            Self::Scale => params.num.saturating_mul(2),
            Self::ReadSeq | Self::ReadReverse => params.num * params.threads as u64,
            Self::FillSync { .. } => (params.num / 1000).max(MIN_FILLSYNC_OPS),
            // Each op reads 11 (seekrandom, seekcursor) or up to 100 (YCSB
            // E) entries: a tenth of the reads keeps their run time near
            // the others'.
            Self::SeekRandom
            | Self::SeekCursor
            | Self::Ycsb {
                mix: YcsbMix::E, ..
            } => (params.reads / SCAN_OPS_DIVISOR).max(1),
            Self::ReadRandom | Self::ReadMissing | Self::ReadWhileWriting | Self::Ycsb { .. } => {
                params.reads
            }
        }
    }

    /// Whether `--duration` may stop the workload early: fills that build
    /// the state the results describe always run to the end.
    pub fn may_stop_early(self) -> bool {
        !matches!(
            self,
            Self::FillSeq
                | Self::FillRandom
                | Self::FillBatch
                | Self::Overwrite
                | Self::DeleteRandom
                | Self::DeletePerKey
                | Self::DeleteRange
                | Self::Scale
                | Self::Load
        )
    }

    /// Whether the DB holds exactly `num` live keys of full size when the
    /// workload ends, so space amplification is well defined.
    pub fn ends_with_all_keys(self) -> bool {
        matches!(
            self,
            Self::FillSeq
                | Self::FillRandom
                | Self::FillBatch
                | Self::Overwrite
                | Self::Scale
                | Self::Load
        )
    }

    /// Whether every write of the workload is synced regardless of `--sync`.
    pub fn syncs_every_write(self) -> bool {
        matches!(self, Self::FillSync { .. })
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl From<Workload> for String {
    fn from(workload: Workload) -> Self {
        workload.name()
    }
}

impl TryFrom<String> for Workload {
    type Error = BenchError;

    fn try_from(name: String) -> Result<Self> {
        name.parse()
    }
}

impl FromStr for Workload {
    type Err = BenchError;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "load" => return Ok(Self::Load),
            "scale" => return Ok(Self::Scale),
            _ => {}
        }
        if let Some(workload) = Self::range_deletion()
            .into_iter()
            .find(|workload| workload.name() == name)
        {
            return Ok(workload);
        }
        if let Some(threads) = name.strip_prefix("fillsync-") {
            let threads = threads
                .parse()
                .ok()
                .filter(|&threads| threads > 0)
                .ok_or_else(|| {
                    BenchError::InvalidArgument(format!("bad thread count in {name}"))
                })?;
            return Ok(Self::FillSync { threads });
        }
        Self::all()
            .into_iter()
            .find(|workload| workload.name() == name)
            .ok_or_else(|| {
                let known: Vec<String> = Self::all().into_iter().map(Workload::name).collect();
                BenchError::InvalidArgument(format!(
                    "unknown workload {name:?}; known: all, fillsync, ycsb, ycsb-a..f, scale, rangedel, queue, \
                     deleteperkey, deleterange, {}",
                    known.join(", ")
                ))
            })
    }
}

/// Parameters of a run, shared by every job of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunParams {
    /// Keys in the key space (and writes in the fill workloads).
    pub num: u64,
    /// Operations of the read and mixed workloads.
    pub reads: u64,
    /// Key size.
    pub key_size_bytes: usize,
    /// Value size.
    pub value_size_bytes: usize,
    /// Threads (readers in `readwhilewriting`).
    pub threads: usize,
    /// Sync every write (fillsync always does).
    pub sync: bool,
    /// Stop read and mixed phases after this many seconds (0: never).
    pub duration_secs: u64,
    /// Seed of every random choice.
    pub seed: u64,
}

impl RunParams {
    /// Bytes of one key-value pair.
    pub fn entry_bytes(&self) -> u64 {
        (self.key_size_bytes + self.value_size_bytes) as u64
    }

    /// Key and value bytes of the `num` keys, once each: the live data of a
    /// DB that holds all of them.
    pub fn live_bytes(&self) -> u64 {
        self.num.saturating_mul(self.entry_bytes())
    }

    /// Checks the parameters make sense together.
    pub fn validate(&self) -> Result<()> {
        if self.num == 0 || self.threads == 0 || self.value_size_bytes == 0 {
            return Err(BenchError::InvalidArgument(
                "--num, --threads and --value-size must be positive".to_owned(),
            ));
        }
        crate::keys::KeyFormat::new(self.key_size_bytes, self.key_capacity())?;
        Ok(())
    }

    /// Key indexes any workload may use: the `num` loaded keys plus YCSB
    /// inserts.
    pub fn key_capacity(&self) -> u64 {
        self.num.saturating_add(self.reads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_groups_expand() {
        for workload in Workload::all() {
            assert_eq!(workload.name().parse::<Workload>().unwrap(), workload);
        }
        assert_eq!(Workload::all().len(), 15 + 12);
        let list = Workload::parse_list("fillseq, ycsb-a,fillsync,fillseq").unwrap();
        let names: Vec<String> = list.iter().map(|w| w.name()).collect();
        assert_eq!(
            names,
            [
                "fillseq",
                "ycsb-a-uniform",
                "ycsb-a-zipfian",
                "fillsync-1",
                "fillsync-16"
            ]
        );
        assert!(Workload::parse_list("nosuch").is_err());
        assert!(Workload::parse_list(" , ").is_err());
        assert_eq!(
            "fillsync-4".parse::<Workload>().unwrap(),
            Workload::FillSync { threads: 4 }
        );
        assert_eq!(
            Workload::parse_list("scale").unwrap(),
            [Workload::Scale],
            "scale is named, not part of all"
        );
        assert!(!Workload::all().contains(&Workload::Scale));
        let names: Vec<String> = Workload::parse_list("rangedel")
            .unwrap()
            .iter()
            .map(|w| w.name())
            .collect();
        assert_eq!(names, ["queue", "deleteperkey", "deleterange"]);
        for workload in Workload::range_deletion() {
            assert_eq!(workload.name().parse::<Workload>().unwrap(), workload);
            assert!(!Workload::all().contains(&workload));
        }
    }

    #[test]
    fn workloads_serialize_as_their_names() {
        let json = serde_json::to_string(&Workload::Ycsb {
            mix: YcsbMix::E,
            dist: KeyDist::Zipfian,
        })
        .unwrap();
        assert_eq!(json, "\"ycsb-e-zipfian\"");
        let back: Workload = serde_json::from_str(&json).unwrap();
        assert_eq!(back.name(), "ycsb-e-zipfian");
    }
}
