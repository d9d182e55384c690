//! What openraft's suite cannot check (it builds no application data): the
//! key-value commands, snapshots carrying data, and the log, vote and state
//! surviving a close and reopen of the database.

#![allow(clippy::unwrap_used)] // the helpers outside the tests

use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::log_id;
use openraft::{Entry, EntryPayload, RaftLogReader, RaftSnapshotBuilder, Vote};
use seer_db::DB;
use seer_raft::{Command, Response, StateMachine, TypeConfig};

fn entry(index: u64, command: Command) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(1, 0, index),
        payload: EntryPayload::Normal(command),
    }
}

fn set(key: &str, value: &str) -> Command {
    Command::Set {
        key: key.into(),
        value: value.into(),
    }
}

fn pairs(state_machine: &StateMachine) -> Vec<(String, String)> {
    state_machine
        .pairs()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
        .collect()
}

#[tokio::test]
async fn commands_in_one_applied_group_see_each_other_and_compare_and_set_checks_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let db = DB::open(dir.path()).unwrap();
    let (_, mut sm) = seer_raft::open(&db).unwrap();
    let responses = sm
        .apply([
            entry(1, set("a", "1")),
            entry(
                2,
                Command::CompareAndSet {
                    key: "a".into(),
                    expected: Some("1".into()),
                    new: Some("2".into()),
                },
            ),
            entry(
                3,
                Command::CompareAndSet {
                    key: "a".into(),
                    expected: Some("1".into()),
                    new: Some("3".into()),
                },
            ),
            entry(4, set("b", "x")),
            entry(5, Command::Delete { key: "b".into() }),
            entry(
                6,
                Command::CompareAndSet {
                    key: "c".into(),
                    expected: None,
                    new: Some("new".into()),
                },
            ),
        ])
        .await
        .unwrap();
    let written: Vec<bool> = responses.iter().map(|r| r.written).collect();
    assert_eq!(written, [true, true, false, true, true, true]);
    assert_eq!(
        responses[2],
        Response {
            previous: Some("2".into()),
            written: false
        }
    );
    assert_eq!(responses[4].previous, Some("x".into()));
    assert_eq!(
        pairs(&sm),
        [("a".into(), "2".into()), ("c".into(), "new".into())]
    );
    assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 0, 6)));
}

#[tokio::test]
async fn installing_a_snapshot_replaces_the_whole_state_and_survives_a_reopen() {
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let leader_db = DB::open(leader_dir.path()).unwrap();
    let (_, mut leader) = seer_raft::open(&leader_db).unwrap();
    leader
        .apply([entry(1, set("k1", "v1")), entry(2, set("k2", "v2"))])
        .await
        .unwrap();
    let snapshot = leader.build_snapshot().await.unwrap();
    // Written after the snapshot: not in it.
    leader.apply([entry(3, set("k3", "v3"))]).await.unwrap();

    {
        let follower_db = DB::open(follower_dir.path()).unwrap();
        let (_, mut follower) = seer_raft::open(&follower_db).unwrap();
        follower
            .apply([entry(1, set("stale", "x")), entry(2, set("k1", "old"))])
            .await
            .unwrap();
        follower
            .install_snapshot(&snapshot.meta, snapshot.snapshot)
            .await
            .unwrap();
        follower_db.close().unwrap();
    }

    let follower_db = DB::open(follower_dir.path()).unwrap();
    let (_, mut follower) = seer_raft::open(&follower_db).unwrap();
    assert_eq!(
        pairs(&follower),
        [("k1".into(), "v1".into()), ("k2".into(), "v2".into())]
    );
    assert_eq!(
        follower.applied_state().await.unwrap().0,
        Some(log_id(1, 0, 2))
    );
    let current = follower.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, snapshot.meta);
}

#[tokio::test]
async fn log_vote_and_purge_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = DB::open(dir.path()).unwrap();
        let (mut log, _) = seer_raft::open(&db).unwrap();
        log.save_vote(&Vote::new(3, 1)).await.unwrap();
        let entries: Vec<_> = (1..=10).map(|i| entry(i, set("k", "v"))).collect();
        log.blocking_append(entries).await.unwrap();
        log.purge(log_id(1, 0, 4)).await.unwrap();
        log.truncate(log_id(1, 0, 9)).await.unwrap();
        db.close().unwrap();
    }
    let db = DB::open(dir.path()).unwrap();
    let (mut log, _) = seer_raft::open(&db).unwrap();
    assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(3, 1)));
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 0, 4)));
    assert_eq!(state.last_log_id, Some(log_id(1, 0, 8)));
    let indexes: Vec<u64> = log
        .try_get_log_entries(..)
        .await
        .unwrap()
        .iter()
        .map(|e| e.log_id.index)
        .collect();
    assert_eq!(indexes, [5, 6, 7, 8]);
}
