//! Three openraft nodes in one process, each on its own seerdb directory,
//! over an in-process network; a client writes commands, one follower is
//! stopped (its `Raft` shut down and dropped, its database closed) and
//! restarted mid-run (before the restart the leader takes a snapshot and
//! purges its log past the follower's end, so the follower catches up
//! through `install_snapshot`), and at the end every node's state machine
//! must equal the others' and hold every acknowledged command.
//!
//! ```text
//! cargo run --release -p seer-raft --example cluster -- \
//!     [--commands 100000] [--clients 64] [--sync always|never] [--dir PATH]
//! ```
//!
//! It prints the committed commands per second of the write phase and the
//! file syncs (`fdatasync`/`fsync` of files, counted on each node's file
//! system) per committed command. The network: each RPC is a call on the
//! target's `Raft` handle (openraft's channel into its core task), or
//! `Unreachable` while the target is stopped. `tests/cluster.rs` runs a
//! shorter version.

use std::collections::BTreeMap;
use std::error::Error;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use openraft::error::{
    ClientWriteError, InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::storage::RaftLogStorage;
use openraft::{BasicNode, Config, Raft, RaftNetwork, RaftNetworkFactory, SnapshotPolicy};
use seer_db::{DBOptions, SyncPolicy, DB};
use seer_raft::{Command, KeyValue, StateMachine, TypeConfig};
use seer_testkit::ForwardingFs;

/// A boxed error of the run.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// How a run goes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Commands the client writes (the main phase; 1% of them, at least
    /// one, are deleted again in a last phase).
    pub commands: u64,
    /// Client tasks writing at once.
    pub clients: u64,
    /// The databases' sync policy.
    pub sync_policy: SyncPolicy,
    /// Parent of the nodes' directories (`node0`, `node1`, `node2`).
    pub dir: PathBuf,
    /// Applied logs between two snapshots (openraft then purges the log
    /// below the snapshot, but for the last few).
    pub logs_per_snapshot: u64,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Commands acknowledged in the write phase.
    pub committed: u64,
    /// Seconds the write phase took.
    pub write_seconds: f64,
    /// File syncs of each node (by id) during the write phase.
    pub syncs_by_node: Vec<u64>,
    /// The node that led at the end of the write phase.
    pub leader: u64,
    /// Keys in each state machine at the end.
    pub keys: usize,
    /// Whether the leader had purged logs the stopped follower lacked when
    /// it restarted (it then catches up through a snapshot).
    pub follower_needed_snapshot: bool,
}

const NODE_IDS: [u64; 3] = [0, 1, 2];

/// The `Raft` handles of the running nodes, by id: the network.
#[derive(Clone, Default)]
struct Router {
    nodes: Arc<Mutex<BTreeMap<u64, Raft<TypeConfig>>>>,
}

impl Router {
    fn get(&self, id: u64) -> Option<Raft<TypeConfig>> {
        let nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        nodes.get(&id).cloned()
    }

    fn insert(&self, id: u64, raft: Raft<TypeConfig>) {
        let mut nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        nodes.insert(id, raft);
    }

    fn remove(&self, id: u64) -> Option<Raft<TypeConfig>> {
        let mut nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        nodes.remove(&id)
    }
}

impl RaftNetworkFactory<TypeConfig> for Router {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> Connection {
        Connection {
            router: self.clone(),
            target,
        }
    }
}

/// One node's connection to `target`.
struct Connection {
    router: Router,
    target: u64,
}

impl Connection {
    fn target(&self) -> Result<Raft<TypeConfig>, Unreachable> {
        self.router
            .get(self.target)
            .ok_or_else(|| Unreachable::new(&io::Error::other("the node is stopped")))
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let raft = self.target()?;
        raft.append_entries(rpc)
            .await
            .map_err(|error| RPCError::RemoteError(RemoteError::new(self.target, error)))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        let raft = self.target()?;
        raft.install_snapshot(rpc)
            .await
            .map_err(|error| RPCError::RemoteError(RemoteError::new(self.target, error)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let raft = self.target()?;
        raft.vote(rpc)
            .await
            .map_err(|error| RPCError::RemoteError(RemoteError::new(self.target, error)))
    }
}

/// A running node.
struct Node {
    db: DB,
    raft: Raft<TypeConfig>,
    state_machine: StateMachine,
}

/// The cluster: its network, its running nodes and their sync counters.
struct Cluster {
    router: Router,
    nodes: Mutex<BTreeMap<u64, Arc<Node>>>,
    syncs: BTreeMap<u64, Arc<AtomicU64>>,
    config: Arc<Config>,
    options: RunOptions,
    leader_hint: AtomicU64,
}

impl Cluster {
    fn new(options: RunOptions) -> Result<Self, BoxError> {
        let config = Config {
            heartbeat_interval: 100,
            election_timeout_min: 1_000,
            election_timeout_max: 2_000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(options.logs_per_snapshot),
            max_in_snapshot_log_to_keep: options.logs_per_snapshot / 10,
            ..Config::default()
        }
        .validate()?;
        Ok(Self {
            router: Router::default(),
            nodes: Mutex::new(BTreeMap::new()),
            syncs: NODE_IDS
                .iter()
                .map(|&id| (id, Arc::new(AtomicU64::new(0))))
                .collect(),
            config: Arc::new(config),
            options,
            leader_hint: AtomicU64::new(0),
        })
    }

    fn node(&self, id: u64) -> Option<Arc<Node>> {
        let nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        nodes.get(&id).cloned()
    }

    fn node_dir(&self, id: u64) -> PathBuf {
        self.options.dir.join(format!("node{id}"))
    }

    /// Opens node `id`'s database (syncs counted) and starts its `Raft`.
    async fn start(&self, id: u64) -> Result<(), BoxError> {
        let counter = self.syncs.get(&id).cloned().unwrap_or_default();
        let fs = ForwardingFs::new(seer_core::RealFileSystem::shared()).on_change(
            move |call, _path: &Path| {
                if call == "sync" {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            },
        );
        let db = DBOptions::default()
            .sync_policy(self.options.sync_policy)
            .file_system(Arc::new(fs))
            .open(self.node_dir(id))?;
        let (log_store, state_machine) = seer_raft::open(&db)?;
        let raft = Raft::new(
            id,
            Arc::clone(&self.config),
            self.router.clone(),
            log_store,
            state_machine.clone(),
        )
        .await?;
        self.router.insert(id, raft.clone());
        let node = Arc::new(Node {
            db,
            raft,
            state_machine,
        });
        let mut nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        nodes.insert(id, node);
        Ok(())
    }

    /// Stops node `id`: off the network, its `Raft` shut down and dropped,
    /// its database closed.
    async fn stop(&self, id: u64) -> Result<(), BoxError> {
        self.router.remove(id);
        let node = {
            let mut nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
            nodes.remove(&id)
        };
        let Some(node) = node else {
            return Ok(());
        };
        node.raft.shutdown().await?;
        node.db.close()?;
        Ok(())
    }

    /// The leader as far as the cluster knows, waiting (bounded) for one.
    async fn leader(&self) -> Result<Arc<Node>, BoxError> {
        for _ in 0..1_000 {
            let hint = self.leader_hint.load(Ordering::Relaxed);
            if let Some(node) = self.node(hint) {
                return Ok(node);
            }
            for id in NODE_IDS {
                if let Some(node) = self.node(id) {
                    if let Some(leader) = node.raft.metrics().borrow().current_leader {
                        self.leader_hint.store(leader, Ordering::Relaxed);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err("no leader within 10 s".into())
    }

    /// Writes `command` through the leader until it is acknowledged
    /// (bounded retries), following redirects.
    async fn write(&self, command: Command) -> Result<seer_raft::Response, BoxError> {
        let mut last_error: BoxError = "no attempt".into();
        for _ in 0..200 {
            let leader = self.leader().await?;
            match leader.raft.client_write(command.clone()).await {
                Ok(response) => return Ok(response.data),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                    if let Some(id) = forward.leader_id {
                        self.leader_hint.store(id, Ordering::Relaxed);
                    }
                    last_error = forward.to_string().into();
                }
                Err(error) => last_error = error.to_string().into(),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(last_error)
    }

    fn syncs_by_node(&self) -> Vec<u64> {
        self.syncs
            .values()
            .map(|count| count.load(Ordering::Relaxed))
            .collect()
    }
}

/// The key of command `index`.
fn key(index: u64) -> Vec<u8> {
    format!("key{index:08}").into_bytes()
}

/// The value of command `index`.
fn value(index: u64) -> Vec<u8> {
    format!("value-{index}").into_bytes()
}

/// Command `index` of the write phase: every tenth a compare-and-set of
/// its fresh key (expecting it absent), the others plain sets.
fn command(index: u64) -> Command {
    if index % 10 == 9 {
        Command::CompareAndSet {
            key: key(index),
            expected: None,
            new: Some(value(index)),
        }
    } else {
        Command::Set {
            key: key(index),
            value: value(index),
        }
    }
}

/// Writes commands `next..commands` from one client task, counting
/// acknowledgements in `acked`.
async fn client(
    cluster: Arc<Cluster>,
    next: Arc<AtomicU64>,
    acked: Arc<AtomicU64>,
) -> Result<(), BoxError> {
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        if index >= cluster.options.commands {
            return Ok(());
        }
        let response = cluster.write(command(index)).await?;
        // A compare-and-set retried after its first attempt was committed
        // finds its own value.
        let done = response.written || response.previous == Some(value(index));
        if !done {
            return Err(format!("command {index} was refused: {response:?}").into());
        }
        acked.fetch_add(1, Ordering::Relaxed);
    }
}

/// Waits (bounded) until `acked` reaches `target` or the clients are done.
async fn wait_for_progress(acked: &AtomicU64, target: u64, clients: &tokio::task::JoinSet<()>) {
    for _ in 0..60_000 {
        if acked.load(Ordering::Relaxed) >= target || clients.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs the cluster as [`RunOptions`] say and checks the end state.
pub async fn run(options: RunOptions) -> Result<RunReport, BoxError> {
    let commands = options.commands;
    let clients_count = options.clients;
    let cluster = Arc::new(Cluster::new(options)?);
    for id in NODE_IDS {
        cluster.start(id).await?;
    }
    let members: BTreeMap<u64, BasicNode> = NODE_IDS
        .iter()
        .map(|&id| (id, BasicNode::default()))
        .collect();
    let first = cluster.node(0).ok_or("node 0 is not running")?;
    first.raft.initialize(members).await?;
    cluster.leader().await?;

    let started = Instant::now();
    let syncs_before = cluster.syncs_by_node();
    let next = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..clients_count {
        let (cluster, next, acked) = (cluster.clone(), next.clone(), acked.clone());
        let failures = failures.clone();
        clients.spawn(async move {
            if let Err(error) = client(cluster, next, acked).await {
                let mut failures = failures.lock().unwrap_or_else(PoisonError::into_inner);
                failures.push(error.to_string());
            }
        });
    }

    // A follower goes down a third of the way in and comes back at two
    // thirds.
    wait_for_progress(&acked, commands / 3, &clients).await;
    let leader_id = cluster.leader().await?.raft.metrics().borrow().id;
    let follower = NODE_IDS
        .into_iter()
        .find(|&id| id != leader_id)
        .ok_or("no follower")?;
    cluster.stop(follower).await?;
    wait_for_progress(&acked, 2 * commands / 3, &clients).await;
    // A snapshot now, and the leader's log purged past the follower's end
    // (waited for, bounded), so the follower catches up from the snapshot.
    let follower_last_log = last_log_index(&cluster.node_dir(follower)).await?;
    let leader = cluster.leader().await?;
    leader.raft.trigger().snapshot().await?;
    let purged_past_follower = leader
        .raft
        .wait(Some(Duration::from_secs(30)))
        .metrics(
            |metrics| metrics.purged.map(|log_id| log_id.index) > follower_last_log,
            "the leader purges past the stopped follower's last log",
        )
        .await;
    let follower_needed_snapshot = purged_past_follower.is_ok();
    cluster.start(follower).await?;

    while clients.join_next().await.is_some() {}
    let write_seconds = started.elapsed().as_secs_f64();
    let syncs_by_node: Vec<u64> = cluster
        .syncs_by_node()
        .iter()
        .zip(&syncs_before)
        .map(|(after, before)| after - before)
        .collect();
    let final_leader = cluster.leader().await?.raft.metrics().borrow().id;
    {
        let failures = failures.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(failure) = failures.first() {
            return Err(format!("{} client(s) failed, first: {failure}", failures.len()).into());
        }
    }
    let committed = acked.load(Ordering::Relaxed);

    // Last phase: delete 1% of the keys again.
    let deleted: Vec<u64> = (0..commands).step_by(100).collect();
    for &index in &deleted {
        cluster.write(Command::Delete { key: key(index) }).await?;
    }

    let leader = cluster.leader().await?;
    let last_applied = leader
        .state_machine
        .last_applied()?
        .map(|log_id| log_id.index);
    let mut states = Vec::new();
    for id in NODE_IDS {
        let node = cluster.node(id).ok_or("a node is not running")?;
        node.raft
            .wait(Some(Duration::from_secs(60)))
            .applied_index_at_least(last_applied, "every node applies everything")
            .await?;
        states.push(node.state_machine.pairs()?);
    }
    check_end_state(&states, commands, &deleted)?;

    for id in NODE_IDS {
        cluster.stop(id).await?;
    }
    Ok(RunReport {
        committed,
        write_seconds,
        syncs_by_node,
        leader: final_leader,
        keys: states.first().map_or(0, Vec::len),
        follower_needed_snapshot,
    })
}

/// The index of the last log entry of the stopped node in `dir`.
async fn last_log_index(dir: &Path) -> Result<Option<u64>, BoxError> {
    let db = DB::open(dir)?;
    let (mut log_store, _) = seer_raft::open(&db)?;
    let state = log_store.get_log_state().await?;
    drop(log_store);
    db.close()?;
    Ok(state.last_log_id.map(|log_id| log_id.index))
}

/// Every node's state equals the first's, which holds every command's key
/// with its value but the deleted ones.
fn check_end_state(
    states: &[Vec<KeyValue>],
    commands: u64,
    deleted: &[u64],
) -> Result<(), BoxError> {
    let first = states.first().ok_or("no state")?;
    for (id, state) in states.iter().enumerate() {
        if state != first {
            return Err(format!("node {id}'s state machine differs from node 0's").into());
        }
    }
    let expected: Vec<KeyValue> = (0..commands)
        .filter(|index| deleted.binary_search(index).is_err())
        .map(|index| (key(index), value(index)))
        .collect();
    if *first != expected {
        return Err(format!(
            "the state machines hold {} keys, not the {} acknowledged and not deleted",
            first.len(),
            expected.len()
        )
        .into());
    }
    Ok(())
}

fn parse_args() -> Result<RunOptions, BoxError> {
    let mut options = RunOptions {
        commands: 100_000,
        clients: 64,
        sync_policy: SyncPolicy::Always,
        dir: std::env::temp_dir().join(format!("seer-raft-cluster-{}", std::process::id())),
        logs_per_snapshot: 10_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--commands" => options.commands = value.parse()?,
            "--clients" => options.clients = value.parse()?,
            "--sync" => {
                options.sync_policy = match value.as_str() {
                    "always" => SyncPolicy::Always,
                    "never" => SyncPolicy::Never,
                    other => return Err(format!("--sync {other}: always or never").into()),
                }
            }
            "--dir" => options.dir = PathBuf::from(value),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let options = parse_args()?;
    if options.dir.exists() {
        return Err(format!("{} exists; give a fresh --dir", options.dir.display()).into());
    }
    println!(
        "three nodes under {}, {} commands from {} clients, {:?}",
        options.dir.display(),
        options.commands,
        options.clients,
        options.sync_policy
    );
    let dir = options.dir.clone();
    let report = run(options).await?;
    std::fs::remove_dir_all(&dir)?;
    let committed = report.committed as f64;
    let syncs: u64 = report.syncs_by_node.iter().sum();
    let per_node: Vec<String> = report
        .syncs_by_node
        .iter()
        .map(|&count| format!("{:.3}", count as f64 / committed))
        .collect();
    println!(
        "{} commands committed in {:.2} s: {:.0} commands/s; file syncs per command: {:.3} \
         on the three nodes, by node {:?} (leader: node {}); all {} keys equal on every node; \
         the restarted follower needed a snapshot: {}",
        report.committed,
        report.write_seconds,
        committed / report.write_seconds,
        syncs as f64 / committed,
        per_node,
        report.leader,
        report.keys,
        report.follower_needed_snapshot
    );
    Ok(())
}
