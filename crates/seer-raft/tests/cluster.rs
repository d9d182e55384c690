//! The `cluster` example, shorter: three nodes, a follower stopped and
//! restarted mid-run (catching up from a snapshot, the leader's log purged
//! past it meanwhile), equal state machines holding every acknowledged
//! command at the end.

#[allow(dead_code)] // the example's `main` and argument parsing
#[path = "../examples/cluster.rs"]
mod cluster;

use seer_db::SyncPolicy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_node_cluster_survives_a_follower_restart_with_equal_state_machines() {
    let dir = tempfile::tempdir().unwrap();
    let report = cluster::run(cluster::RunOptions {
        commands: 2_000,
        clients: 16,
        sync_policy: SyncPolicy::Never,
        dir: dir.path().to_path_buf(),
        logs_per_snapshot: 300,
    })
    .await
    .unwrap();
    assert_eq!(report.committed, 2_000);
    assert_eq!(report.keys, 2_000 - 20);
    assert!(
        report.follower_needed_snapshot,
        "the leader purged past the stopped follower's log, so it caught up from a snapshot"
    );
}
