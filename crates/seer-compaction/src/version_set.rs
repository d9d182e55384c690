//! [`VersionSet`]: the current [`Version`] (behind `arc-swap`, so readers pin
//! one without a lock), the database's counters, the manifest they are
//! logged to, and which table files no live version references any more.
//!
//! Every change goes through [`VersionSet::log_and_apply`]: the edit is
//! applied to the current version, appended to the manifest and synced, and
//! only then does the new version become current. When the manifest grows
//! past [`VersionSetOptions::max_manifest_bytes`] a new one is written with a
//! snapshot of the state and `CURRENT` is swapped to it; the old manifest is
//! then removed, and a failure to remove it is only logged (the edit is
//! durable; the next open removes every manifest but the live one). Opening
//! always starts a fresh manifest, so a torn tail is never appended to; it
//! is two steps, [`VersionSet::load`] (reads and replays, writes nothing,
//! so an open refused afterwards leaves the directory as it was) and
//! [`LoadedManifest::start`] (the first write).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use arc_swap::ArcSwap;
use seer_core::filename::{file_name, parse_file_name};
use seer_core::{FileKind, SeqNo, SharedFileSystem};

use crate::edit::VersionEdit;
use crate::error::{Error, Result};
use crate::manifest::{
    self, read_current, replay, set_current, ManifestState, ManifestVerification, ManifestWriter,
};
use crate::policy::PolicyParams;
use crate::version::{Version, INVARIANT_CHECKS};
use crate::TableMeta;

/// How the version set is shaped and when it rewrites its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSetOptions {
    /// Levels of the tree, level 0 included (fixed for a database).
    pub levels_count: usize,
    /// A manifest longer than this is rewritten as a snapshot.
    pub max_manifest_bytes: u64,
    /// The policy recorded when a database is created.
    pub initial_policy: PolicyParams,
}

impl Default for VersionSetOptions {
    fn default() -> Self {
        Self {
            levels_count: 7,
            max_manifest_bytes: 4 << 20,
            initial_policy: PolicyParams::default(),
        }
    }
}

/// What opening the version set found: the manifest's replay and the
/// directory's orphan files (the WAL's replay is seer-wal's
/// `WalRecoveryReport`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestRecoveryReport {
    /// Whether the database was created by this open.
    pub created: bool,
    /// Edits replayed from the previous manifest.
    pub edits_replayed: usize,
    /// Bytes of a torn final edit that were dropped.
    pub dropped_tail_bytes: u64,
    /// Table files on disk that no version references (written by a flush
    /// or compaction that never committed): the DB should delete them.
    pub orphan_table_files: Vec<u64>,
    /// Temporary files left by an interrupted `CURRENT` swap or table
    /// write: the DB should delete them.
    pub orphan_temp_files: Vec<u64>,
    /// Manifests other than the live one, deleted by the open (one that
    /// could not be deleted is logged and left for the next open).
    pub removed_manifests: Vec<u64>,
}

#[derive(Debug)]
struct Logged {
    /// `None` for a read-only set ([`LoadedManifest::into_read_only`]).
    manifest: Option<ManifestWriter>,
    state: ManifestState,
    pending_obsolete: HashMap<u64, Weak<TableMeta>>,
    failure: Option<String>,
}

/// The current version, the counters and the manifest.
#[derive(Debug)]
pub struct VersionSet {
    fs: SharedFileSystem,
    dir: PathBuf,
    options: VersionSetOptions,
    current: ArcSwap<Version>,
    next_file_number: AtomicU64,
    logged: Mutex<Logged>,
}

/// A database's manifest read and replayed by [`VersionSet::load`], with
/// nothing written yet: what an open checks before its first write
/// ([`Self::start`] writes the fresh manifest).
#[derive(Debug)]
pub struct LoadedManifest {
    fs: SharedFileSystem,
    dir: PathBuf,
    options: VersionSetOptions,
    state: ManifestState,
    /// `removed_manifests` holds every manifest on disk until
    /// [`Self::start`] removes them.
    report: ManifestRecoveryReport,
}

impl LoadedManifest {
    /// The replayed version.
    pub fn version(&self) -> &Arc<Version> {
        &self.state.version
    }

    /// WAL segments below this number are obsolete.
    pub fn log_number(&self) -> u64 {
        self.state.log_number
    }

    /// The largest sequence number the manifest recorded.
    pub fn last_seq(&self) -> SeqNo {
        self.state.last_seq
    }

    /// The merge operator name the manifest recorded.
    pub fn merge_operator_name(&self) -> Option<&str> {
        self.state.merge_operator_name.as_deref()
    }

    /// The compaction policy the manifest recorded (the initial one for a
    /// new database).
    pub fn policy(&self) -> PolicyParams {
        self.state.policy.unwrap_or(self.options.initial_policy)
    }

    /// The live named keyspaces the manifest recorded, by id.
    pub fn keyspaces(&self) -> &BTreeMap<u32, String> {
        &self.state.keyspaces
    }

    /// What the replay found; the orphans listed are still on disk.
    pub fn report(&self) -> &ManifestRecoveryReport {
        &self.report
    }

    /// Writes a fresh manifest holding the replayed state, points `CURRENT`
    /// at it (creating the directory for a new database) and removes every
    /// other manifest; the report lists those removed.
    pub fn start(self) -> Result<(VersionSet, ManifestRecoveryReport)> {
        let Self {
            fs,
            dir,
            options,
            state,
            mut report,
        } = self;
        if report.created {
            fs.create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        let set = VersionSet::start(fs, &dir, options, state)?;
        report
            .removed_manifests
            .retain(|&number| set.remove_stale_manifest(number));
        report.removed_manifests.sort_unstable();
        Ok((set, report))
    }

    /// The replayed state as a version set that writes nothing: no manifest
    /// is created and no file removed; [`VersionSet::log_and_apply`] fails
    /// with [`Error::Poisoned`] and [`VersionSet::obsolete_table_files`]
    /// reports none. A read-only open's tree (another process may own the
    /// directory).
    pub fn into_read_only(self) -> VersionSet {
        let Self {
            fs,
            dir,
            options,
            state,
            ..
        } = self;
        VersionSet {
            current: ArcSwap::new(Arc::clone(&state.version)),
            next_file_number: AtomicU64::new(state.next_file_number),
            fs,
            dir,
            options,
            logged: Mutex::new(Logged {
                manifest: None,
                state,
                pending_obsolete: HashMap::new(),
                failure: Some(READ_ONLY_FAILURE.to_owned()),
            }),
        }
    }
}

/// Why a read-only version set refuses edits.
const READ_ONLY_FAILURE: &str = "the version set was opened read-only";

impl VersionSet {
    /// Opens the database in `dir`, creating it when `CURRENT` is missing:
    /// [`Self::load`] then [`LoadedManifest::start`].
    pub fn open(
        fs: SharedFileSystem,
        dir: &Path,
        options: VersionSetOptions,
    ) -> Result<(Self, ManifestRecoveryReport)> {
        Self::load(fs, dir, options)?.start()
    }

    /// Reads `CURRENT` and replays its manifest (an empty state when
    /// `CURRENT` is missing) without writing anything.
    pub fn load(
        fs: SharedFileSystem,
        dir: &Path,
        options: VersionSetOptions,
    ) -> Result<LoadedManifest> {
        let Some(manifest_number) = read_current(fs.as_ref(), dir)? else {
            let mut state = ManifestState::empty(options.levels_count);
            state.policy = Some(options.initial_policy);
            let report = ManifestRecoveryReport {
                created: true,
                ..ManifestRecoveryReport::default()
            };
            return Ok(LoadedManifest {
                fs,
                dir: dir.to_path_buf(),
                options,
                state,
                report,
            });
        };
        let mut state = replay(fs.as_ref(), dir, manifest_number, options.levels_count)?;
        if INVARIANT_CHECKS {
            state.version.check_invariants()?;
        }
        let names = fs.list_dir(dir).map_err(|e| Error::io(dir, e))?;
        let files: Vec<(FileKind, u64)> = names.iter().filter_map(|n| parse_file_name(n)).collect();
        let live = state.version.live_file_numbers();
        let largest_used = files
            .iter()
            .map(|&(_, number)| number)
            .chain(live.last().copied())
            .max()
            .unwrap_or(0);
        state.next_file_number = state.next_file_number.max(largest_used + 1);
        let of_kind = |kind: FileKind| {
            files
                .iter()
                .filter(move |&&(k, _)| k == kind)
                .map(|&(_, number)| number)
        };
        let report = ManifestRecoveryReport {
            created: false,
            edits_replayed: state.edits_count,
            dropped_tail_bytes: state.dropped_tail_bytes,
            orphan_table_files: of_kind(FileKind::Table)
                .filter(|n| !live.contains(n))
                .collect(),
            orphan_temp_files: of_kind(FileKind::Temp).collect(),
            removed_manifests: of_kind(FileKind::Manifest).collect(),
        };
        Ok(LoadedManifest {
            fs,
            dir: dir.to_path_buf(),
            options,
            state,
            report,
        })
    }

    /// Writes a fresh manifest holding `state` and points `CURRENT` at it.
    fn start(
        fs: SharedFileSystem,
        dir: &Path,
        options: VersionSetOptions,
        mut state: ManifestState,
    ) -> Result<Self> {
        let manifest = manifest::create_live(fs.as_ref(), dir, &mut state)?;
        Ok(Self {
            current: ArcSwap::new(Arc::clone(&state.version)),
            next_file_number: AtomicU64::new(state.next_file_number),
            fs,
            dir: dir.to_path_buf(),
            options,
            logged: Mutex::new(Logged {
                manifest: Some(manifest),
                state,
                pending_obsolete: HashMap::new(),
                failure: None,
            }),
        })
    }

    /// The current version; hold the `Arc` to pin its tables.
    pub fn current(&self) -> Arc<Version> {
        self.current.load_full()
    }

    /// The whole logged state (the current version with the counters,
    /// log number, last sequence number, policy and merge operator logged
    /// with it), taken under the manifest lock so the parts agree; holding
    /// its version pins the tables. A checkpoint or backup writes it as a
    /// fresh manifest elsewhere ([`manifest::create_live`]).
    pub fn state(&self) -> ManifestState {
        let mut state = self.lock().state.clone();
        state.next_file_number = state
            .next_file_number
            .max(self.next_file_number.load(Ordering::SeqCst));
        state
    }

    /// A new, unique file number.
    pub fn new_file_number(&self) -> u64 {
        self.next_file_number.fetch_add(1, Ordering::SeqCst)
    }

    /// WAL segments below this number are obsolete.
    pub fn log_number(&self) -> u64 {
        self.lock().state.log_number
    }

    /// The largest sequence number durable in tables.
    pub fn last_seq(&self) -> SeqNo {
        self.lock().state.last_seq
    }

    /// The compaction policy last recorded.
    pub fn policy(&self) -> PolicyParams {
        self.lock()
            .state
            .policy
            .unwrap_or(self.options.initial_policy)
    }

    /// The merge operator name last recorded.
    pub fn merge_operator_name(&self) -> Option<String> {
        self.lock().state.merge_operator_name.clone()
    }

    /// The live named keyspaces, by id (the default keyspace is not
    /// listed).
    pub fn keyspaces(&self) -> BTreeMap<u32, String> {
        self.lock().state.keyspaces.clone()
    }

    /// The next unused keyspace id.
    pub fn next_keyspace_id(&self) -> u32 {
        self.lock().state.next_keyspace_id
    }

    /// The live manifest's file number (0 for a read-only set, which
    /// writes none).
    pub fn manifest_number(&self) -> u64 {
        self.lock()
            .manifest
            .as_ref()
            .map_or(0, ManifestWriter::file_number)
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Applies `edit` to the current version, logs it durably and makes the
    /// result current. Returns the new version.
    ///
    /// An edit that does not fit the version ([`Error::Edit`]), or whose
    /// result breaks the tree's invariants ([`Error::Invariant`], checked
    /// when [`INVARIANT_CHECKS`] is on), changes nothing. After a failed manifest write the edit's fate is unknown
    /// until the next open (it may be durable): the caller must keep the
    /// edit's new files, which the next open reports as orphans if the edit
    /// was lost, and every later call fails with [`Error::Poisoned`].
    pub fn log_and_apply(&self, mut edit: VersionEdit) -> Result<Arc<Version>> {
        let mut logged = self.lock();
        if let Some(cause) = &logged.failure {
            return Err(Error::Poisoned(cause.clone()));
        }
        let before = self.current();
        let mut next_state = logged.state.clone();
        if let Some(largest_added) = edit.added_tables.iter().map(|t| t.meta.file_number).max() {
            self.next_file_number
                .fetch_max(largest_added + 1, Ordering::SeqCst);
        }
        edit.next_file_number = Some(self.next_file_number.load(Ordering::SeqCst));
        next_state.apply(&edit)?;
        if INVARIANT_CHECKS {
            next_state.version.check_invariants()?;
        }
        if let Err(error) = self.write_edit(&mut logged, &edit, &next_state) {
            logged.failure = Some(error.to_string());
            return Err(error);
        }
        let version = Arc::clone(&next_state.version);
        logged.state = next_state;
        self.current.store(Arc::clone(&version));
        track_removed(&mut logged.pending_obsolete, &before, &edit);
        Ok(version)
    }

    fn write_edit(
        &self,
        logged: &mut Logged,
        edit: &VersionEdit,
        next: &ManifestState,
    ) -> Result<()> {
        let Some(live) = logged.manifest.as_mut() else {
            return Err(Error::Poisoned(READ_ONLY_FAILURE.to_owned()));
        };
        if live.len_bytes() < self.options.max_manifest_bytes {
            return live.append(edit);
        }
        let manifest_number = self.new_file_number();
        let temp_number = self.new_file_number();
        let mut snapshot = next.snapshot_edit();
        snapshot.next_file_number = Some(self.next_file_number.load(Ordering::SeqCst));
        let manifest =
            ManifestWriter::create(self.fs.as_ref(), &self.dir, manifest_number, &snapshot)?;
        set_current(self.fs.as_ref(), &self.dir, manifest_number, temp_number)?;
        if let Some(old) = logged.manifest.replace(manifest) {
            self.remove_stale_manifest(old.file_number());
        }
        Ok(())
    }

    /// Removes manifest `number`, which `CURRENT` no longer names. The edit
    /// that replaced it is durable whatever happens here, so a failure is
    /// only logged: the next open removes every manifest but the live one.
    /// Returns whether the file is gone.
    fn remove_stale_manifest(&self, number: u64) -> bool {
        match self.remove_file(FileKind::Manifest, number) {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, "could not remove a manifest CURRENT no longer names; the next open removes it");
                false
            }
        }
    }

    /// Verifies the database's `CURRENT`, manifest and tables present (see
    /// [`manifest::verify`]) while no edit is logged, so no table the
    /// manifest names is deleted meanwhile, and checks that the manifest
    /// replays to the current version (unless an earlier manifest write
    /// failed, after which the file's tail is unknown).
    pub fn verify(&self) -> Result<ManifestVerification> {
        let logged = self.lock();
        let verification =
            manifest::verify(self.fs.as_ref(), &self.dir, self.options.levels_count)?;
        if logged.failure.is_none() && verification.state.version != logged.state.version {
            return Err(Error::corruption(
                &verification.manifest_path,
                verification.manifest_bytes,
                "the manifest replays to another version than the live one",
            ));
        }
        Ok(verification)
    }

    /// Table files removed from the version that no live version references
    /// any more; each is reported once. The caller deletes them (see
    /// [`Self::remove_table_files`]).
    pub fn obsolete_table_files(&self) -> Vec<u64> {
        let mut logged = self.lock();
        let mut obsolete: Vec<u64> = logged
            .pending_obsolete
            .iter()
            .filter(|(_, table)| table.strong_count() == 0)
            .map(|(&number, _)| number)
            .collect();
        for number in &obsolete {
            logged.pending_obsolete.remove(number);
        }
        obsolete.sort_unstable();
        obsolete
    }

    /// Deletes table files `numbers` (obsolete or orphan ones).
    pub fn remove_table_files(&self, numbers: &[u64]) -> Result<()> {
        for &number in numbers {
            self.remove_file(FileKind::Table, number)?;
        }
        Ok(())
    }

    fn remove_file(&self, kind: FileKind, number: u64) -> Result<()> {
        let path = self.dir.join(file_name(kind, number));
        match self.fs.remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Logged> {
        self.logged.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Remembers the tables `edit` removed from `before` (and did not re-add
/// elsewhere) until no version holds them.
fn track_removed(
    pending: &mut HashMap<u64, Weak<TableMeta>>,
    before: &Version,
    edit: &VersionEdit,
) {
    let added: BTreeSet<u64> = edit
        .added_tables
        .iter()
        .map(|t| t.meta.file_number)
        .collect();
    for removed in &edit.removed_tables {
        if added.contains(&removed.file_number) {
            continue;
        }
        let table = before.levels()[removed.level]
            .runs()
            .iter()
            .flat_map(|run| run.tables())
            .find(|t| t.file_number == removed.file_number);
        if let Some(table) = table {
            pending.insert(removed.file_number, Arc::downgrade(table));
        }
    }
}
