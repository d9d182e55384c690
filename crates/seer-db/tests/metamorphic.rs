//! The metamorphic test (after Pebble's `metamorphic` package): random
//! operation sequences (puts, deletes, merges, batches, transactions,
//! snapshots, point reads, `multi_get`, forward, reverse and bounded scans,
//! flushes, `compact_range`, close and reopen with newly drawn options,
//! batches across the default keyspace and a named one, `second`, whose
//! contents are checked with the default keyspace's, and its flushes),
//! each run under several configurations of drawn options against a
//! `BTreeMap` model, with background flushes and compactions on.
//!
//! `SEER_METAMORPHIC_SECONDS` bounds the run (default 30 s), and
//! `SEER_METAMORPHIC_SEED` replays one sequence; a failure prints its seed,
//! step, op, expected and got, the replay command and a reduced sequence
//! (the reducer's time is `SEER_METAMORPHIC_REDUCE_SECONDS`, default 120).
//! `cargo xtask metamorphic --seconds N` runs it long, in release.
//!
//! The ignored tests below are reduced sequences the test found, each
//! named after what it checks and naming the defect; they are un-ignored
//! once the defect is fixed.
#![allow(clippy::unwrap_used)]

mod durability_support;
mod metamorphic_support;

#[allow(unused_imports)]
use metamorphic_support::{
    replay, Bounds, Config, Direction, DrawnOptions, MergeKind, Op, PolicyDraw, Scan, SyncDraw,
    TxnStep, Universe, Write,
};

#[test]
fn random_sequences_agree_with_the_model_under_changing_options() {
    metamorphic_support::run_from_env();
}

/// Issue 11 defect 1, as the metamorphic test found it (seed
/// 8475408661423058130, reduced from 1731 ops to 21): a reopen raises
/// `base_level_size` (2173 to 22510 bytes), so the base level moves down
/// while older versions of `c0002` stay above it; `compact_range` then
/// compacts level 0 (holding the delete) straight into the new base level
/// as "bottommost", the tombstone is dropped and the older put resurfaces.
#[test]
fn a_deleted_key_stays_deleted_when_a_reopen_moves_the_base_level_down() {
    let universe = Universe {
        merge: MergeKind::U64Add,
        key_count: 61,
    };
    let config = Config {
        first_options: DrawnOptions {
            memtable_capacity_bytes: 3102,
            memtable_partitions: 3,
            max_immutable_memtables: 3,
            sync: SyncDraw::Always,
            block_size_bytes: 84,
            block_cache_capacity_bytes: 0,
            bloom_bits_per_key: 1,
            zstd_level: Some(3),
            policy: PolicyDraw::Adaptive,
            l0_compaction_trigger: 5,
            l0_slowdown_writes_trigger: 21,
            l0_stop_writes_trigger: 23,
            target_file_size_bytes: 2950,
            base_level_size_bytes: 20338,
            background_threads: 2,
            memory_budget_memtables: None,
            max_space_amplification_tenths: 15,
        },
        redraw_seed: None,
    };
    let ops = vec![
        Op::Get(6),
        Op::Write(Write::Put {
            key: 35,
            value: 341813,
        }),
        Op::Write(Write::Delete { key: 16 }),
        Op::ReopenWith(Box::new(DrawnOptions {
            memtable_capacity_bytes: 65536,
            memtable_partitions: 7,
            max_immutable_memtables: 2,
            sync: SyncDraw::Never,
            block_size_bytes: 331,
            block_cache_capacity_bytes: 1048576,
            bloom_bits_per_key: 11,
            zstd_level: None,
            policy: PolicyDraw::Leveling(3),
            l0_compaction_trigger: 2,
            l0_slowdown_writes_trigger: 16,
            l0_stop_writes_trigger: 21,
            target_file_size_bytes: 40102,
            base_level_size_bytes: 2173,
            background_threads: 2,
            memory_budget_memtables: None,
            max_space_amplification_tenths: 15,
        })),
        Op::Write(Write::Merge {
            key: 20,
            operand: 638715,
        }),
        Op::Transaction {
            steps: vec![
                TxnStep::Get(25),
                TxnStep::Write(Write::Put {
                    key: 7,
                    value: 287098,
                }),
                TxnStep::Write(Write::Delete { key: 3 }),
                TxnStep::Write(Write::Merge {
                    key: 36,
                    operand: 179823,
                }),
                TxnStep::Write(Write::Put {
                    key: 8,
                    value: 567151,
                }),
                TxnStep::Get(1),
                TxnStep::Get(60),
            ],
            interfere: None,
        },
        Op::TakeSnapshot(0),
        Op::Write(Write::Delete { key: 12 }),
        Op::Write(Write::Put {
            key: 2,
            value: 383359,
        }),
        Op::SnapshotGet(1, 1),
        Op::Write(Write::Put {
            key: 1,
            value: 199416,
        }),
        Op::Get(1),
        Op::CompactRange(Some((1, 42))),
        Op::Batch(vec![
            Write::Delete { key: 1 },
            Write::Delete { key: 1 },
            Write::Put {
                key: 5,
                value: 521077,
            },
            Write::Put {
                key: 2,
                value: 267431,
            },
            Write::Put {
                key: 2,
                value: 798974,
            },
            Write::Delete { key: 6 },
        ]),
        Op::Flush,
        Op::Write(Write::Put {
            key: 2,
            value: 105361,
        }),
        Op::Flush,
        Op::Transaction {
            steps: vec![TxnStep::Write(Write::Delete { key: 17 })],
            interfere: None,
        },
        Op::Write(Write::Delete { key: 2 }),
        Op::ReopenWith(Box::new(DrawnOptions {
            memtable_capacity_bytes: 4194304,
            memtable_partitions: 8,
            max_immutable_memtables: 4,
            sync: SyncDraw::Never,
            block_size_bytes: 4072,
            block_cache_capacity_bytes: 0,
            bloom_bits_per_key: 6,
            zstd_level: Some(-1),
            policy: PolicyDraw::Adaptive,
            l0_compaction_trigger: 3,
            l0_slowdown_writes_trigger: 13,
            l0_stop_writes_trigger: 20,
            target_file_size_bytes: 8781,
            base_level_size_bytes: 22510,
            background_threads: 2,
            memory_budget_memtables: None,
            max_space_amplification_tenths: 15,
        })),
        Op::CompactRange(None),
    ];
    for _ in 0..20 {
        replay(universe, &ops, &config);
    }
}

/// Seed 14259697082667751857 (2207 ops, reduced to 17): a flush of
/// `a0129@7, a0156@8, c0122@6` is cut into tables 27 (`a0129`) and 28; the
/// level-0 compaction seeded from the oldest run takes 28 and, through the
/// one-pass slice of level 0, the older range tombstone `[a0006, b0007)@5`
/// (widening its range over 27 after 27's run was passed). The output
/// holding `a0156@8` carries the fragment, so its key range covers table 27
/// above it, whose data goes down to 7: "newer data below older data".
/// Closing the slice of level 0 under overlap fixes it but takes whole
/// level-0 runs (picker_level0_split.txt); the executor must instead end
/// such an output at the left-behind table (see COMPACTION.md).
#[test]
fn a_level0_compaction_keeps_newer_data_out_of_a_range_tombstone_spanning_a_table_left_above() {
    let universe = Universe {
        merge: MergeKind::U64Add,
        key_count: 166,
    };
    let small_tables = DrawnOptions {
        memtable_capacity_bytes: 4194304,
        memtable_partitions: 1,
        max_immutable_memtables: 1,
        sync: SyncDraw::Never,
        block_size_bytes: 8108,
        block_cache_capacity_bytes: 1048576,
        bloom_bits_per_key: 18,
        zstd_level: Some(-1),
        policy: PolicyDraw::Adaptive,
        l0_compaction_trigger: 5,
        l0_slowdown_writes_trigger: 22,
        l0_stop_writes_trigger: 26,
        target_file_size_bytes: 1784,
        base_level_size_bytes: 262144,
        background_threads: 4,
        memory_budget_memtables: None,
        max_space_amplification_tenths: 15,
    };
    let config = Config {
        first_options: DrawnOptions {
            memtable_capacity_bytes: 65536,
            memtable_partitions: 2,
            max_immutable_memtables: 4,
            sync: SyncDraw::IntervalMs(50),
            block_size_bytes: 16384,
            block_cache_capacity_bytes: 1048576,
            bloom_bits_per_key: 5,
            zstd_level: Some(-1),
            policy: PolicyDraw::Tiering(4),
            l0_compaction_trigger: 3,
            l0_slowdown_writes_trigger: 19,
            l0_stop_writes_trigger: 21,
            target_file_size_bytes: 49202,
            base_level_size_bytes: 194863,
            background_threads: 2,
            memory_budget_memtables: Some(11),
            max_space_amplification_tenths: 11,
        },
        redraw_seed: None,
    };
    let ops = vec![
        Op::ReopenWith(Box::new(DrawnOptions {
            memtable_capacity_bytes: 13004,
            memtable_partitions: 1,
            max_immutable_memtables: 2,
            sync: SyncDraw::Never,
            block_size_bytes: 86,
            block_cache_capacity_bytes: 1048576,
            bloom_bits_per_key: 16,
            zstd_level: None,
            policy: PolicyDraw::Tiering(2),
            l0_compaction_trigger: 4,
            l0_slowdown_writes_trigger: 13,
            l0_stop_writes_trigger: 27,
            target_file_size_bytes: 18323,
            base_level_size_bytes: 38778,
            background_threads: 1,
            memory_budget_memtables: None,
            max_space_amplification_tenths: 12,
        })),
        Op::Write(Write::Put {
            key: 48,
            value: 395191,
        }),
        Op::CompactRange(None),
        Op::Write(Write::Merge {
            key: 148,
            operand: 648360,
        }),
        Op::ReopenWith(Box::new(small_tables)),
        Op::Write(Write::Put {
            key: 31,
            value: 925040,
        }),
        Op::Flush,
        Op::DeleteRange(127, 1),
        Op::Flush,
        Op::DeleteRange(7, 6),
        Op::Flush,
        Op::Write(Write::Put {
            key: 122,
            value: 752697,
        }),
        Op::Transaction {
            steps: vec![TxnStep::Write(Write::Put {
                key: 129,
                value: 747222,
            })],
            interfere: None,
        },
        Op::Write(Write::Put {
            key: 156,
            value: 747781,
        }),
        Op::Flush,
        Op::Write(Write::Delete { key: 110 }),
        Op::Flush,
    ];
    for _ in 0..5 {
        replay(universe, &ops, &config);
    }
}

/// Seed 8410458591324898511 (2230 ops, reduced to 20; lazy leveling): a
/// range delete over `[a0000, b0091)`, then `compact_range`, and a
/// compaction's output at level 6 holding sequence numbers up to 8 meets a
/// level-0 table left above whose data goes down to 5. The seed fails in
/// release (`cargo xtask metamorphic --seed 8410458591324898511`, in
/// level 4 -> 5 and 5 -> 6 compactions of tiered levels into leveled ones,
/// the `slice_within` path): a fragment of a newer input ending before an
/// output's first entry was carried into it, and a fragment spanning that
/// entry was not shown to the age cursor. This reduced replay depends on
/// background timing (it passed in a debug build before the fix too); the
/// seed fails before the fix and passes after it.
#[test]
fn a_compaction_under_lazy_leveling_keeps_the_age_rule_with_a_range_delete_over_level0() {
    let universe = Universe {
        merge: MergeKind::U64Add,
        key_count: 97,
    };
    let config = Config {
        first_options: DrawnOptions {
            memtable_capacity_bytes: 1636,
            memtable_partitions: 5,
            max_immutable_memtables: 1,
            sync: SyncDraw::Never,
            block_size_bytes: 7338,
            block_cache_capacity_bytes: 1048576,
            bloom_bits_per_key: 18,
            zstd_level: None,
            policy: PolicyDraw::LazyLeveling(2),
            l0_compaction_trigger: 3,
            l0_slowdown_writes_trigger: 20,
            l0_stop_writes_trigger: 29,
            target_file_size_bytes: 1044,
            base_level_size_bytes: 4096,
            background_threads: 1,
            memory_budget_memtables: None,
            max_space_amplification_tenths: 100,
        },
        redraw_seed: None,
    };
    let ops = vec![
        Op::Transaction {
            steps: vec![
                TxnStep::Write(Write::Merge {
                    key: 4,
                    operand: 465015,
                }),
                TxnStep::Write(Write::Delete { key: 5 }),
                TxnStep::Get(90),
                TxnStep::Write(Write::Put {
                    key: 58,
                    value: 617428,
                }),
                TxnStep::Write(Write::Put {
                    key: 33,
                    value: 576969,
                }),
            ],
            interfere: Some(Write::Put {
                key: 5,
                value: 62944,
            }),
        },
        Op::Write(Write::Put {
            key: 3,
            value: 90510,
        }),
        Op::Write(Write::Put {
            key: 7,
            value: 854116,
        }),
        Op::ReopenWith(Box::new(DrawnOptions {
            memtable_capacity_bytes: 1636,
            memtable_partitions: 5,
            max_immutable_memtables: 1,
            sync: SyncDraw::Never,
            block_size_bytes: 7338,
            block_cache_capacity_bytes: 1048576,
            bloom_bits_per_key: 18,
            zstd_level: None,
            policy: PolicyDraw::LazyLeveling(2),
            l0_compaction_trigger: 3,
            l0_slowdown_writes_trigger: 20,
            l0_stop_writes_trigger: 29,
            target_file_size_bytes: 1044,
            base_level_size_bytes: 4096,
            background_threads: 1,
            memory_budget_memtables: None,
            max_space_amplification_tenths: 100,
        })),
        Op::Flush,
        Op::MultiGet(vec![98, 1, 3, 2]),
        Op::TakeSnapshot(0),
        Op::Write(Write::Delete { key: 0 }),
        Op::Write(Write::Put {
            key: 32,
            value: 690521,
        }),
        Op::Write(Write::Delete { key: 2 }),
        Op::Transaction {
            steps: vec![
                TxnStep::Write(Write::Put {
                    key: 10,
                    value: 743792,
                }),
                TxnStep::Get(7),
            ],
            interfere: None,
        },
        Op::Flush,
        Op::MultiGet(vec![97, 97, 89, 4, 5]),
        Op::DeleteRange(91, 0),
        Op::ReopenWith(Box::new(DrawnOptions {
            memtable_capacity_bytes: 1636,
            memtable_partitions: 5,
            max_immutable_memtables: 1,
            sync: SyncDraw::Never,
            block_size_bytes: 7338,
            block_cache_capacity_bytes: 1048576,
            bloom_bits_per_key: 18,
            zstd_level: None,
            policy: PolicyDraw::LazyLeveling(2),
            l0_compaction_trigger: 3,
            l0_slowdown_writes_trigger: 20,
            l0_stop_writes_trigger: 29,
            target_file_size_bytes: 1044,
            base_level_size_bytes: 4096,
            background_threads: 1,
            memory_budget_memtables: None,
            max_space_amplification_tenths: 100,
        })),
        Op::SnapshotScan(
            2,
            Scan {
                bounds: Bounds::Prefix { index: 4 },
                direction: Direction::Reverse,
                limit: None,
            },
        ),
        Op::Write(Write::Put {
            key: 6,
            value: 715252,
        }),
        Op::Scan(Scan {
            bounds: Bounds::All,
            direction: Direction::Reverse,
            limit: None,
        }),
        Op::Get(1),
        Op::CompactRange(Some((1, 42))),
    ];
    replay(universe, &ops, &config);
}

/// Seed 13657966697438330438 (1857 ops, reduced to 10): range deletes,
/// then `compact_range` over `[b0004, c0167]`: an output at level 6 holding
/// sequence numbers up to 172 meets a level-5 table left above whose data
/// goes down to 160: the tombstone-only table cut at the claim `a0171` of
/// an older fragment took the key `a0171` of the newer one starting there.
#[test]
fn a_manual_compaction_keeps_the_age_rule_with_range_deletes_over_a_table_left_above() {
    let universe = Universe {
        merge: MergeKind::StringAppend,
        key_count: 271,
    };
    let config = Config {
        first_options: DrawnOptions {
            memtable_capacity_bytes: 1939,
            memtable_partitions: 2,
            max_immutable_memtables: 1,
            sync: SyncDraw::Always,
            block_size_bytes: 1770,
            block_cache_capacity_bytes: 1048576,
            bloom_bits_per_key: 23,
            zstd_level: None,
            policy: PolicyDraw::Leveling(2),
            l0_compaction_trigger: 1,
            l0_slowdown_writes_trigger: 14,
            l0_stop_writes_trigger: 18,
            target_file_size_bytes: 65536,
            base_level_size_bytes: 4096,
            background_threads: 3,
            memory_budget_memtables: None,
            max_space_amplification_tenths: 30,
        },
        redraw_seed: None,
    };
    let ops = vec![
        Op::Write(Write::Merge {
            key: 5,
            operand: 689691,
        }),
        Op::TakeSnapshot(1),
        Op::DeleteRange(6, 126),
        Op::DeleteRange(2, 0),
        Op::CompactRange(None),
        Op::Write(Write::Put {
            key: 7,
            value: 943481,
        }),
        Op::Write(Write::Delete { key: 132 }),
        Op::Flush,
        Op::DeleteRange(171, 7),
        Op::CompactRange(Some((167, 4))),
    ];
    replay(universe, &ops, &config);
}

/// Seed 15779741747841741651 (1020 ops, reduced to 25): range deletes and
/// `compact_range`; a compaction into level 5 of a table holding
/// `[a0003, c0125)@77` and one holding `[b0007, b0130 + [0])@74` drops
/// every entry, and its one tombstone-only output, holding both, meets a
/// level-6 table starting at `b0130 + [0]` whose data goes up to 75: the
/// age cursor asked for a cut there, but a table without entries could not
/// end before the next entry. Found after the three fixes above; fixed by
/// showing the cursor every position a fragment gives (COMPACTION.md).
#[test]
fn range_deletes_and_compact_range_keep_the_age_rule_against_a_level5_table_left_above() {
    let universe = Universe {
        merge: MergeKind::U64Add,
        key_count: 164,
    };
    let config = Config {
        first_options: DrawnOptions {
            memtable_capacity_bytes: 2589,
            memtable_partitions: 7,
            max_immutable_memtables: 2,
            sync: SyncDraw::Never,
            block_size_bytes: 76,
            block_cache_capacity_bytes: 0,
            bloom_bits_per_key: 24,
            zstd_level: None,
            policy: PolicyDraw::LazyLeveling(4),
            l0_compaction_trigger: 1,
            l0_slowdown_writes_trigger: 3,
            l0_stop_writes_trigger: 11,
            target_file_size_bytes: 1896,
            base_level_size_bytes: 1810,
            background_threads: 1,
            memory_budget_memtables: None,
            max_space_amplification_tenths: 100,
        },
        redraw_seed: None,
    };
    let ops = vec![
        Op::Transaction {
            steps: vec![
                TxnStep::Write(Write::Put {
                    key: 2,
                    value: 41956,
                }),
                TxnStep::Write(Write::Put {
                    key: 122,
                    value: 837172,
                }),
            ],
            interfere: Some(Write::Put {
                key: 66,
                value: 997948,
            }),
        },
        Op::Batch(vec![
            Write::Merge {
                key: 96,
                operand: 444238,
            },
            Write::Merge {
                key: 28,
                operand: 271669,
            },
            Write::Put {
                key: 71,
                value: 829832,
            },
            Write::Put {
                key: 119,
                value: 91190,
            },
            Write::Put {
                key: 67,
                value: 126012,
            },
            Write::Put {
                key: 7,
                value: 582284,
            },
            Write::Put {
                key: 20,
                value: 1043524,
            },
            Write::Delete { key: 3 },
            Write::Put {
                key: 80,
                value: 722819,
            },
            Write::Put {
                key: 1,
                value: 863697,
            },
        ]),
        Op::DeleteRange(0, 139),
        Op::Batch(vec![
            Write::Put {
                key: 144,
                value: 821562,
            },
            Write::Delete { key: 1 },
            Write::Delete { key: 29 },
            Write::Delete { key: 5 },
            Write::Delete { key: 14 },
            Write::Put {
                key: 6,
                value: 733122,
            },
            Write::Delete { key: 50 },
            Write::Put {
                key: 51,
                value: 917808,
            },
            Write::Delete { key: 104 },
            Write::Delete { key: 5 },
            Write::Put {
                key: 152,
                value: 739305,
            },
            Write::Put {
                key: 16,
                value: 955423,
            },
        ]),
        Op::Batch(vec![
            Write::Put {
                key: 6,
                value: 107522,
            },
            Write::Merge {
                key: 132,
                operand: 789252,
            },
            Write::Put {
                key: 0,
                value: 986676,
            },
            Write::Delete { key: 3 },
            Write::Delete { key: 62 },
            Write::Put {
                key: 3,
                value: 901987,
            },
            Write::Put {
                key: 66,
                value: 542129,
            },
            Write::Put {
                key: 5,
                value: 770151,
            },
            Write::Merge {
                key: 12,
                operand: 778319,
            },
            Write::Delete { key: 72 },
            Write::Put {
                key: 69,
                value: 156988,
            },
            Write::Put {
                key: 0,
                value: 502371,
            },
        ]),
        Op::Write(Write::Put {
            key: 93,
            value: 882925,
        }),
        Op::TakeSnapshot(3),
        Op::Batch(vec![
            Write::Delete { key: 4 },
            Write::Put {
                key: 3,
                value: 692516,
            },
            Write::Put {
                key: 34,
                value: 806739,
            },
            Write::Put {
                key: 163,
                value: 232832,
            },
            Write::Put {
                key: 47,
                value: 239344,
            },
            Write::Put {
                key: 152,
                value: 518068,
            },
            Write::Put {
                key: 7,
                value: 403026,
            },
            Write::Delete { key: 39 },
            Write::Put {
                key: 3,
                value: 725566,
            },
            Write::Put {
                key: 4,
                value: 1046381,
            },
            Write::Put {
                key: 2,
                value: 557323,
            },
            Write::Delete { key: 4 },
        ]),
        Op::DeleteRange(22, 6),
        Op::CompactRange(None),
        Op::Batch(vec![
            Write::Delete { key: 58 },
            Write::Delete { key: 90 },
            Write::Put {
                key: 28,
                value: 1030928,
            },
            Write::Put {
                key: 115,
                value: 254741,
            },
            Write::Put {
                key: 159,
                value: 927954,
            },
            Write::Put {
                key: 3,
                value: 750834,
            },
            Write::Put {
                key: 97,
                value: 609926,
            },
            Write::Put {
                key: 46,
                value: 710118,
            },
            Write::Merge {
                key: 0,
                operand: 436952,
            },
        ]),
        Op::Flush,
        Op::Batch(vec![
            Write::Put {
                key: 1,
                value: 1029653,
            },
            Write::Put {
                key: 2,
                value: 753634,
            },
            Write::Merge {
                key: 0,
                operand: 999748,
            },
            Write::Put {
                key: 4,
                value: 835711,
            },
            Write::Put {
                key: 133,
                value: 163640,
            },
            Write::Delete { key: 6 },
            Write::Delete { key: 42 },
        ]),
        Op::Batch(vec![
            Write::Put {
                key: 1,
                value: 573286,
            },
            Write::Delete { key: 2 },
        ]),
        Op::Write(Write::Merge {
            key: 140,
            operand: 888310,
        }),
        Op::ReopenWith(Box::new(DrawnOptions {
            memtable_capacity_bytes: 2589,
            memtable_partitions: 7,
            max_immutable_memtables: 2,
            sync: SyncDraw::Never,
            block_size_bytes: 76,
            block_cache_capacity_bytes: 0,
            bloom_bits_per_key: 24,
            zstd_level: None,
            policy: PolicyDraw::LazyLeveling(4),
            l0_compaction_trigger: 1,
            l0_slowdown_writes_trigger: 3,
            l0_stop_writes_trigger: 11,
            target_file_size_bytes: 1896,
            base_level_size_bytes: 1810,
            background_threads: 1,
            memory_budget_memtables: None,
            max_space_amplification_tenths: 100,
        })),
        Op::Write(Write::Put {
            key: 159,
            value: 510124,
        }),
        Op::Write(Write::Put {
            key: 7,
            value: 600089,
        }),
        Op::Flush,
        Op::DeleteRange(7, 74),
        Op::Write(Write::Put {
            key: 2,
            value: 167396,
        }),
        Op::TakeSnapshot(1),
        Op::Write(Write::Put {
            key: 130,
            value: 833903,
        }),
        Op::DeleteRange(125, 3),
        Op::CompactRange(Some((85, 9))),
    ];
    replay(universe, &ops, &config);
}
