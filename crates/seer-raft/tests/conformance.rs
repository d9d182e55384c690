//! openraft's storage conformance suite against the seerdb adapter.

use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use seer_raft::{LogStore, StateMachine, TypeConfig};

/// Builds each test's stores on a fresh database in a temporary directory
/// (the guard keeps the directory until the test ends).
struct SeerStoreBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for SeerStoreBuilder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let db = seer_db::DB::open(dir.path()).expect("open seerdb");
        let (log_store, state_machine) = seer_raft::open(&db).expect("open the adapter");
        Ok((dir, log_store, state_machine))
    }
}

#[test]
fn openraft_storage_suite_passes_on_seerdb() {
    Suite::test_all(SeerStoreBuilder).expect("openraft's storage suite");
}
