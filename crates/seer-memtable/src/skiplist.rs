//! The arena skip list: one partition's entries, each encoded inline in
//! large arena blocks, linked by a lock-free insert-only skip list. The only
//! module of seerdb with `unsafe` code.
//!
//! It owns
//!
//! - the [`Arena`]: blocks of `block_bytes` handed out by one atomic bump
//!   (`fetch_add`) per allocation; a full block is replaced by a fresh one
//!   installed with a compare-and-swap, and every block is kept on a
//!   push-only list so that all of them are freed at once when the skip list
//!   drops. An allocation larger than a quarter block gets a block of its
//!   own, so that the current block is not abandoned half empty;
//! - the node layout: one arena allocation per entry holding the first 16
//!   bytes of the user key as two big-endian integers (most comparisons
//!   during a search are decided there without touching the key bytes), the
//!   key length, the tower height and whether the node has a value handle,
//!   then the tower of `height` next pointers, then the value's [`Bytes`]
//!   handle, then the encoded internal key (`user_key | trailer u64 LE`). A
//!   node whose value is empty (every tombstone, and a put of an empty
//!   value) has the second layout, without the handle: its key follows the
//!   tower, the node is [`VALUE_BYTES`] smaller (a 16-byte key's tombstone
//!   of height 1 takes 56 bytes instead of 88), and its value reads back as
//!   an empty [`Bytes`]. What a search reads of a node (the prefix and one
//!   next pointer) is in its first bytes, at the same offsets in both
//!   layouts, so that a visit mostly touches one cache line;
//! - the lock-free insert: a search records the predecessor and successor
//!   at every level (the splice), the node is linked bottom-up, each level
//!   with one compare-and-swap on the predecessor's next pointer; a failed
//!   swap searches again at that level from the old predecessor (nodes are
//!   never removed, so it stays a predecessor). A node becomes visible when
//!   its level-0 link is published (`Release`); readers follow next pointers
//!   with `Acquire` and never wait;
//! - the remembered insert position ([`Splice`]): a writer inserting a run
//!   of keys (a batch) keeps the splice of its last insert and searches
//!   again only below the lowest level whose links still bracket the next
//!   key, so ascending keys skip most of the search; a lost race with
//!   another writer is caught by the same compare-and-swap;
//! - reads borrowing the list ([`Entry`]) and the owning [`ListCursor`]
//!   that holds the list alive through an `Arc`. Nodes have no back
//!   pointers (they would cost 8 bytes an entry and push a small node past
//!   one cache line); instead a cursor stepping back searches for its
//!   node's predecessor only down to level [`BACK_WINDOW_LEVEL`] and walks
//!   level 0 from there, keeping the nodes it passes (about
//!   4^`BACK_WINDOW_LEVEL`) on a stack of its own, so the next `prev`s pop
//!   one each: a search per window instead of per step. Nodes are never
//!   removed, so a stacked node stays valid; one inserted after the window
//!   was taken is not seen, as after any positioning.
//!
//! Nodes are never removed or changed after publication (besides their next
//! pointers), so a reader holding a node pointer while the list is alive
//! needs no further synchronisation. Inserting an internal key that is
//! already present keeps the first entry (a sequence number is written
//! once) and drops the new value.
//!
//! The design follows the published descriptions of LevelDB's and RocksDB's
//! `InlineSkipList` (branching factor 4, towers in the node, search from the
//! highest level in use); the code is seerdb's own. Under `--cfg loom` the
//! atomics are loom's, for the model in `skiplist_loom.rs`.

use std::alloc::{self, Layout};
use std::cmp::Ordering as KeyOrdering;
use std::marker::PhantomData;
use std::mem::{align_of, size_of, ManuallyDrop};
use std::ptr::{self, NonNull};
use std::sync::Arc;

#[cfg(loom)]
use loom::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use bytes::Bytes;
use seer_core::TRAILER_BYTES;

use crate::key::{user_key_prefix, Target};

/// The tallest tower: with branching factor 4, enough for 4^12 (16M)
/// entries per partition before searches slow down.
pub(crate) const MAX_HEIGHT: usize = 12;

/// The level a backward step's search stops at: the level-0 walk from
/// there passes about 4^2 = 16 nodes, which the cursor keeps for the next
/// steps back.
const BACK_WINDOW_LEVEL: usize = 2;

/// The fixed part of a node; the tower, the value handle (if any) and the
/// key follow it in the same arena allocation.
#[repr(C)]
struct Node {
    /// [`user_key_prefix`] of the user key.
    prefix: [u64; 2],
    /// Length of the encoded internal key after the tower.
    key_len: u32,
    /// Levels in the tower, `1..=MAX_HEIGHT`.
    height: u16,
    /// Whether the value's handle follows the tower; false for an empty
    /// value, whose node has the key right after the tower.
    has_value: bool,
}

// The fixed part keeps its 24 bytes (`has_value` lives in what was the
// high half of a 32-bit height), so the tower starts where it did and the
// prefix and the level-0 next pointer fill a node's first 32 bytes.
const _: () = assert!(size_of::<Node>() == 24);

/// Alignment of every node and block.
const NODE_ALIGN: usize = max(
    max(align_of::<Node>(), align_of::<AtomicPtr<Node>>()),
    align_of::<ManuallyDrop<Bytes>>(),
);
/// Offset of the tower from the node's start.
const TOWER_OFFSET: usize = round_up(size_of::<Node>(), align_of::<AtomicPtr<Node>>());
/// Bytes of the value handle after the tower.
const VALUE_BYTES: usize = size_of::<ManuallyDrop<Bytes>>();

/// Bytes one entry is estimated to occupy beyond its key bytes: the node's
/// fixed part, the value handle and a tower of two pointers (the mean
/// height at branching factor 4 is 4/3, and alignment pads the key by 3.5
/// bytes on average).
pub(crate) const NODE_OVERHEAD_BYTES: usize = TOWER_OFFSET + VALUE_BYTES + 2 * size_of::<usize>();

/// [`NODE_OVERHEAD_BYTES`] of an entry with an empty value, whose node has
/// no value handle.
pub(crate) const VALUELESS_NODE_OVERHEAD_BYTES: usize = NODE_OVERHEAD_BYTES - VALUE_BYTES;

/// Whether a node holding `value` has a value handle: the one place the
/// layout is chosen (an empty value has none).
#[inline]
fn has_value_handle(value: &Bytes) -> bool {
    !value.is_empty()
}

/// The estimated overhead of the node an entry of `value` gets:
/// [`NODE_OVERHEAD_BYTES`], or [`VALUELESS_NODE_OVERHEAD_BYTES`] for the
/// layout without a value handle.
#[inline]
pub(crate) fn node_overhead_bytes(value: &Bytes) -> usize {
    if has_value_handle(value) {
        NODE_OVERHEAD_BYTES
    } else {
        VALUELESS_NODE_OVERHEAD_BYTES
    }
}

/// The empty value: that of a node without a value handle (and of an
/// unpositioned partition cursor, see `iter`).
pub(crate) static EMPTY_VALUE: Bytes = Bytes::new();

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

const fn round_up(bytes: usize, align: usize) -> usize {
    bytes.div_ceil(align) * align
}

/// Arena bytes of a node with `height` levels, a value handle if
/// `has_value`, and a `key_len`-byte key.
fn node_bytes(height: usize, has_value: bool, key_len: usize) -> usize {
    round_up(key_offset(height, has_value) + key_len, NODE_ALIGN)
}

/// The tower height of an entry from a well-mixed 64-bit hash: one more
/// level per two trailing zero bits (probability 1/4 per level).
pub(crate) fn height_from_hash(hash: u64) -> usize {
    1 + ((hash.trailing_zeros() / 2) as usize).min(MAX_HEIGHT - 1)
}

/// The header of an arena block; its usable bytes follow it.
#[repr(C)]
struct Block {
    /// The block pushed onto the arena's list before this one.
    older: *mut Block,
    /// Usable bytes after the header.
    capacity_bytes: usize,
    /// Bytes handed out (may pass `capacity_bytes` once the block is full).
    used_bytes: AtomicUsize,
}

/// Offset of a block's usable bytes from its header.
const BLOCK_HEADER_BYTES: usize = round_up(size_of::<Block>(), NODE_ALIGN);

impl Block {
    /// A new block with `capacity_bytes` usable bytes, the first
    /// `reserved_bytes` of them already handed out.
    fn allocate(capacity_bytes: usize, reserved_bytes: usize) -> NonNull<Block> {
        let layout = Self::layout(capacity_bytes);
        // SAFETY: the layout has a non-zero size (the header).
        let raw = unsafe { alloc::alloc(layout) };
        let Some(block) = NonNull::new(raw.cast::<Block>()) else {
            alloc::handle_alloc_error(layout)
        };
        // SAFETY: `block` is a fresh allocation aligned and sized for the
        // header; nothing else refers to it yet.
        unsafe {
            block.as_ptr().write(Block {
                older: ptr::null_mut(),
                capacity_bytes,
                used_bytes: AtomicUsize::new(reserved_bytes),
            });
        }
        block
    }

    fn layout(capacity_bytes: usize) -> Layout {
        match Layout::from_size_align(BLOCK_HEADER_BYTES + capacity_bytes, NODE_ALIGN) {
            Ok(layout) => layout,
            Err(_) => alloc::handle_alloc_error(Layout::new::<Block>()),
        }
    }

    /// The start of the usable bytes of `block`.
    fn data(block: NonNull<Block>) -> NonNull<u8> {
        // SAFETY: the block's allocation extends BLOCK_HEADER_BYTES past its
        // start, so the result stays inside it (or one past its end when the
        // capacity is zero) and is not null.
        unsafe { NonNull::new_unchecked(block.as_ptr().cast::<u8>().add(BLOCK_HEADER_BYTES)) }
    }

    /// Frees `block`.
    ///
    /// # Safety
    /// `block` came from [`Block::allocate`], is freed once, and nothing
    /// points into it afterwards.
    unsafe fn free(block: NonNull<Block>) {
        // SAFETY: per the contract, the block is live; its header was
        // initialised by `allocate`.
        let capacity_bytes = unsafe { block.as_ref().capacity_bytes };
        // SAFETY: allocated by `allocate` with this very layout.
        unsafe { alloc::dealloc(block.as_ptr().cast::<u8>(), Self::layout(capacity_bytes)) }
    }
}

/// Bump allocation in large blocks, all freed together when it drops.
#[derive(Debug)]
struct Arena {
    /// Usable bytes of a regular block.
    block_bytes: usize,
    /// The block allocations are bumped in; null before the first one.
    current: AtomicPtr<Block>,
    /// Every block, newest first, linked through `Block::older`.
    blocks: AtomicPtr<Block>,
}

impl Arena {
    fn new(block_bytes: usize) -> Self {
        Self {
            block_bytes,
            current: AtomicPtr::new(ptr::null_mut()),
            blocks: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// `bytes` (a multiple of [`NODE_ALIGN`]) of fresh memory aligned to
    /// [`NODE_ALIGN`], valid until the arena drops. Lock-free.
    fn allocate(&self, bytes: usize) -> NonNull<u8> {
        debug_assert_eq!(bytes % NODE_ALIGN, 0, "unaligned arena allocation");
        if bytes > self.block_bytes / 4 {
            let block = Block::allocate(bytes, bytes);
            self.push(block);
            return Block::data(block);
        }
        loop {
            let current = self.current.load(Ordering::Acquire);
            if let Some(block) = NonNull::new(current) {
                // SAFETY: blocks are freed only when the arena drops, and
                // `&self` keeps it alive.
                let header = unsafe { block.as_ref() };
                let offset = header.used_bytes.fetch_add(bytes, Ordering::Relaxed);
                if offset
                    .checked_add(bytes)
                    .is_some_and(|end| end <= header.capacity_bytes)
                {
                    // SAFETY: `offset..offset + bytes` lies within the
                    // block's usable bytes and was handed to this caller
                    // only (the `fetch_add` above).
                    return unsafe {
                        NonNull::new_unchecked(Block::data(block).as_ptr().add(offset))
                    };
                }
            }
            let fresh = Block::allocate(self.block_bytes, bytes);
            match self.current.compare_exchange(
                current,
                fresh.as_ptr(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.push(fresh);
                    return Block::data(fresh);
                }
                // SAFETY: `fresh` was never published; only this thread
                // knows it.
                Err(_) => unsafe { Block::free(fresh) },
            }
        }
    }

    /// Adds `block` to the list of blocks freed on drop.
    fn push(&self, block: NonNull<Block>) {
        let mut newest = self.blocks.load(Ordering::Relaxed);
        loop {
            // SAFETY: `block` is live and not yet on the list, so no other
            // thread reads or writes `older`.
            unsafe { (*block.as_ptr()).older = newest };
            match self.blocks.compare_exchange_weak(
                newest,
                block.as_ptr(),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => newest = actual,
            }
        }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let mut next = self.blocks.load(Ordering::Acquire);
        while let Some(block) = NonNull::new(next) {
            // SAFETY: every block on the list is live and listed once; the
            // arena is being dropped, so nothing points into it any more.
            unsafe {
                next = block.as_ref().older;
                Block::free(block);
            }
        }
    }
}

/// The predecessor (null: the head) and successor (null: the end) of a
/// position at one level.
#[derive(Clone, Copy)]
struct Link {
    prev: *mut Node,
    next: *mut Node,
}

/// Where one thread's last insert into one list went: the [`Link`] around
/// it at each of the lowest `height` levels (RocksDB's `InlineSkipList`
/// keeps such a splice for `InsertWithHint`; this is seerdb's own code).
///
/// The levels are nested: going down, predecessors never move back and
/// successors never move forward in key order, so when one level's links
/// bracket a key (predecessor before it, successor at or after it), the
/// links of every level above bracket it too. Concurrent inserts by other
/// threads may have put nodes between a remembered predecessor and
/// successor; the linking compare-and-swap sees that and searches that
/// level again, as for a plain insert.
pub(crate) struct Splice<'list> {
    /// The list the links point into.
    list: *const SkipList,
    links: [Link; MAX_HEIGHT],
    /// Levels of `links` in use (0: empty).
    height: usize,
    /// The nodes pointed to live as long as the list.
    lifetime: PhantomData<&'list SkipList>,
}

impl<'list> Splice<'list> {
    /// An empty splice for `list`.
    pub(crate) fn new(list: &'list SkipList) -> Self {
        Self {
            list,
            links: [Link {
                prev: ptr::null_mut(),
                next: ptr::null_mut(),
            }; MAX_HEIGHT],
            height: 0,
            lifetime: PhantomData,
        }
    }
}

impl std::fmt::Debug for Splice<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Splice")
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// Whether `link` brackets `target`: its predecessor (null: the head) lies
/// before it and its successor (null: the end) at or after it.
fn brackets(link: Link, target: &Target<'_>) -> bool {
    (link.prev.is_null() || compare(link.prev, target) == KeyOrdering::Less)
        && (link.next.is_null() || compare(link.next, target) != KeyOrdering::Less)
}

/// One partition's entries in internal-key order.
pub(crate) struct SkipList {
    /// The head's tower: the first node of every level.
    head: [AtomicPtr<Node>; MAX_HEIGHT],
    /// The tallest tower inserted so far (searches start there).
    height: AtomicUsize,
    /// Holds every node.
    arena: Arena,
}

impl std::fmt::Debug for SkipList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkipList")
            .field("height", &self.height.load(Ordering::Relaxed))
            .field("block_bytes", &self.arena.block_bytes)
            .finish_non_exhaustive()
    }
}

impl SkipList {
    /// An empty list whose arena allocates blocks of `block_bytes`.
    pub(crate) fn new(block_bytes: usize) -> Self {
        Self {
            head: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            height: AtomicUsize::new(1),
            arena: Arena::new(round_up(block_bytes.max(NODE_ALIGN), NODE_ALIGN)),
        }
    }

    /// Inserts the entry `user_key | trailer` with `value` and a tower of
    /// `height` levels (clamped to `1..=MAX_HEIGHT`). An empty `value` is
    /// not kept (the node has no value handle; the entry's value reads back
    /// as [`EMPTY_VALUE`]). Returns false, dropping `value`, if the internal
    /// key was already present or the encoded key does not fit in 32 bits.
    /// Lock-free.
    pub(crate) fn insert(
        &self,
        user_key: &[u8],
        trailer: u64,
        value: Bytes,
        height: usize,
    ) -> bool {
        self.insert_at(&mut Splice::new(self), user_key, trailer, value, height)
    }

    /// As [`Self::insert`], starting the search from `splice` (the links
    /// around this thread's previous insert into this list) instead of the
    /// head: the search is redone only below the lowest level whose
    /// remembered links still bracket the new key, so keys that ascend
    /// (a sorted batch) mostly skip it. `splice` is left around the new
    /// entry. With a `splice` of another list this is a plain insert.
    pub(crate) fn insert_at(
        &self,
        splice: &mut Splice<'_>,
        user_key: &[u8],
        trailer: u64,
        value: Bytes,
        height: usize,
    ) -> bool {
        if !ptr::eq(splice.list, self) {
            return self.insert(user_key, trailer, value, height);
        }
        let Ok(key_len) = u32::try_from(user_key.len() + TRAILER_BYTES) else {
            return false;
        };
        let target = Target::new(user_key, trailer);
        let height = height.clamp(1, MAX_HEIGHT);
        let top = height.max(self.height.load(Ordering::Relaxed));
        let links = &mut splice.links;
        // Levels from `kept` up are used as remembered: by the nesting of a
        // splice (see `Splice`), one level bracketing the key means every
        // level above does too. A splice shorter than the list is redone.
        let kept = if splice.height < top {
            top
        } else {
            (0..top)
                .find(|&level| brackets(links[level], &target))
                .unwrap_or(top)
        };
        let mut prev = if kept == top {
            ptr::null_mut()
        } else {
            links[kept].prev
        };
        for level in (0..kept).rev() {
            links[level] = self.find_link(prev, level, &target);
            prev = links[level].prev;
        }
        splice.height = top;
        if self.is_equal(links[0].next, &target) {
            return false;
        }
        let value = has_value_handle(&value).then_some(value);
        let has_value = value.is_some();
        let node = self.allocate_node(user_key, key_len, trailer, value, height);
        self.height.fetch_max(height, Ordering::Relaxed);
        // A lost race above level 0 can leave that level's successor before
        // the one of the level below (a node linked there meanwhile), which
        // breaks the nesting: the splice is then forgotten after this insert.
        let mut nested = true;
        for level in 0..height {
            loop {
                let Link { prev, next } = links[level];
                // SAFETY: `node` is a live node of this list with `height`
                // levels; until it is linked at `level` no other thread reads
                // its next pointer there.
                unsafe { tower(node, level) }.store(next, Ordering::Relaxed);
                let swapped = self.next_slot(prev, level).compare_exchange(
                    next,
                    node,
                    Ordering::Release,
                    Ordering::Relaxed,
                );
                if swapped.is_ok() {
                    break;
                }
                links[level] = self.find_link(prev, level, &target);
                nested &= level == 0;
                if level == 0 && self.is_equal(links[0].next, &target) {
                    if has_value {
                        // SAFETY: the node was never linked, so this thread
                        // alone owns it; it has a value handle, written by
                        // `allocate_node`, which is taken out once here, and
                        // the list's drop never sees the node.
                        drop(unsafe { ManuallyDrop::take(&mut *value_slot(node)) });
                    }
                    return false;
                }
            }
        }
        if nested {
            for link in &mut links[..height] {
                link.prev = node;
            }
        } else {
            splice.height = 0;
        }
        true
    }

    /// Writes a node for `user_key | trailer` into the arena, with a value
    /// handle if `value` is given (the layout without one otherwise).
    fn allocate_node(
        &self,
        user_key: &[u8],
        key_len: u32,
        trailer: u64,
        value: Option<Bytes>,
        height: usize,
    ) -> *mut Node {
        let has_value = value.is_some();
        let node = self
            .arena
            .allocate(node_bytes(height, has_value, key_len as usize))
            .as_ptr()
            .cast::<Node>();
        // SAFETY: the arena handed out `node_bytes(height, has_value,
        // key_len)` bytes aligned to NODE_ALIGN to this thread alone: room
        // for the fixed part, `height` tower slots, the value handle if
        // `has_value` and the key, written here before the node is
        // published. The fixed part (with `height` and `has_value`) is
        // written first, so `value_slot` and `key_ptr` find their places.
        unsafe {
            node.write(Node {
                prefix: user_key_prefix(user_key),
                key_len,
                height: height as u16,
                has_value,
            });
            for level in 0..height {
                tower_slot(node, level).write(AtomicPtr::new(ptr::null_mut()));
            }
            if let Some(value) = value {
                value_slot(node).write(ManuallyDrop::new(value));
            }
            let key = key_ptr(node);
            ptr::copy_nonoverlapping(user_key.as_ptr(), key, user_key.len());
            ptr::copy_nonoverlapping(
                trailer.to_le_bytes().as_ptr(),
                key.add(user_key.len()),
                TRAILER_BYTES,
            );
        }
        node
    }

    /// The slot holding the successor of `prev` (null: the head) at `level`.
    fn next_slot(&self, prev: *mut Node, level: usize) -> &AtomicPtr<Node> {
        if prev.is_null() {
            &self.head[level]
        } else {
            // SAFETY: non-null node pointers handed around by this list
            // point to published nodes tall enough for `level` (a node is
            // reached at a level only through a link at that level).
            unsafe { tower(prev, level) }
        }
    }

    /// Walks `level` from `prev` (null: the head) to the last node before
    /// `target` and its successor.
    fn find_link(&self, mut prev: *mut Node, level: usize, target: &Target<'_>) -> Link {
        loop {
            let next = self.next_slot(prev, level).load(Ordering::Acquire);
            if next.is_null() || compare(next, target) != KeyOrdering::Less {
                return Link { prev, next };
            }
            prev = next;
        }
    }

    fn is_equal(&self, node: *mut Node, target: &Target<'_>) -> bool {
        !node.is_null() && compare(node, target) == KeyOrdering::Equal
    }

    /// The first node for which `is_after` holds, searching down from the
    /// highest level in use; `is_after` must be monotone along the list.
    fn first_where(&self, is_after: impl Fn(*mut Node) -> bool) -> *mut Node {
        let mut prev = ptr::null_mut();
        let mut next = ptr::null_mut();
        for level in (0..self.height.load(Ordering::Relaxed)).rev() {
            loop {
                next = self.next_slot(prev, level).load(Ordering::Acquire);
                if next.is_null() || is_after(next) {
                    break;
                }
                prev = next;
            }
        }
        next
    }

    /// The last node for which `is_before` holds (null: none).
    fn last_where(&self, is_before: impl Fn(*mut Node) -> bool) -> *mut Node {
        let mut prev = ptr::null_mut();
        for level in (0..self.height.load(Ordering::Relaxed)).rev() {
            loop {
                let next = self.next_slot(prev, level).load(Ordering::Acquire);
                if next.is_null() || !is_before(next) {
                    break;
                }
                prev = next;
            }
        }
        prev
    }

    /// The first entry at or after `target`.
    pub(crate) fn seek(&self, target: &Target<'_>) -> Option<Entry<'_>> {
        Entry::new(self.first_where(|node| compare(node, target) != KeyOrdering::Less))
    }

    /// The first entry after `target`.
    fn seek_after(&self, target: &Target<'_>) -> Option<Entry<'_>> {
        Entry::new(self.first_where(|node| compare(node, target) == KeyOrdering::Greater))
    }

    /// The last entry at or before `target`.
    fn seek_at_or_before(&self, target: &Target<'_>) -> Option<Entry<'_>> {
        Entry::new(self.last_where(|node| compare(node, target) != KeyOrdering::Greater))
    }

    /// The last entry before `target`.
    fn seek_before(&self, target: &Target<'_>) -> Option<Entry<'_>> {
        Entry::new(self.last_where(|node| compare(node, target) == KeyOrdering::Less))
    }

    /// The nodes before `target` from the last one at level
    /// [`BACK_WINDOW_LEVEL`] on, in list order, pushed onto `window`
    /// (emptied first): its last node is the predecessor of `target`.
    fn window_before(&self, target: &Target<'_>, window: &mut Vec<NonNull<Node>>) {
        window.clear();
        let top = self.height.load(Ordering::Relaxed);
        let mut prev = ptr::null_mut();
        for level in (BACK_WINDOW_LEVEL.min(top - 1)..top).rev() {
            prev = self.find_link(prev, level, target).prev;
        }
        window.extend(NonNull::new(prev));
        loop {
            let next = self.next_slot(prev, 0).load(Ordering::Acquire);
            if next.is_null() || compare(next, target) != KeyOrdering::Less {
                return;
            }
            window.extend(NonNull::new(next));
            prev = next;
        }
    }

    /// The smallest entry.
    fn first(&self) -> Option<Entry<'_>> {
        Entry::new(self.head[0].load(Ordering::Acquire))
    }

    /// The largest entry.
    fn last(&self) -> Option<Entry<'_>> {
        Entry::new(self.last_where(|_| true))
    }
}

impl Drop for SkipList {
    fn drop(&mut self) {
        let mut next = self.head[0].load(Ordering::Acquire);
        while !next.is_null() {
            // SAFETY: every node on level 0 is published, listed once, and
            // owns its value handle if it has one (`has_value`, written
            // before publication); the list is being dropped, so no reader
            // is left. The arena frees the memory afterwards.
            unsafe {
                let node = next;
                next = tower(node, 0).load(Ordering::Acquire);
                if (*node).has_value {
                    ManuallyDrop::drop(&mut *value_slot(node));
                }
            }
        }
    }
}

/// Where the next-pointer slot of `node` at `level` lies.
///
/// # Safety
/// `node` points to a node allocation of this list whose tower has more
/// than `level` levels.
unsafe fn tower_slot(node: *mut Node, level: usize) -> *mut AtomicPtr<Node> {
    // SAFETY: per the contract, the slot lies inside the node's arena
    // allocation (TOWER_OFFSET plus `level` slots, below `height`).
    unsafe {
        node.cast::<u8>()
            .add(TOWER_OFFSET + level * size_of::<AtomicPtr<Node>>())
            .cast::<AtomicPtr<Node>>()
    }
}

/// The next-pointer slot of `node` at `level`.
///
/// # Safety
/// As for [`tower_slot`], the slot is initialised (by `allocate_node`), and
/// the returned reference is not used after the list drops.
unsafe fn tower<'a>(node: *mut Node, level: usize) -> &'a AtomicPtr<Node> {
    // SAFETY: per the contract, the slot is in bounds and initialised.
    unsafe { &*tower_slot(node, level) }
}

/// Offset of the end of the tower in a node with `height` levels.
fn tower_end(height: usize) -> usize {
    TOWER_OFFSET + height * size_of::<AtomicPtr<Node>>()
}

/// Offset of the value handle in a node with `height` levels and a handle.
fn value_offset(height: usize) -> usize {
    round_up(tower_end(height), align_of::<ManuallyDrop<Bytes>>())
}

/// Offset of the encoded key in a node with `height` levels: after the
/// value handle if `has_value`, right after the tower otherwise.
fn key_offset(height: usize, has_value: bool) -> usize {
    if has_value {
        value_offset(height) + VALUE_BYTES
    } else {
        tower_end(height)
    }
}

/// Where the value handle of `node` lies.
///
/// # Safety
/// `node` points to a node allocated by `allocate_node` whose `height` is
/// initialised and that has a value handle (`has_value`).
unsafe fn value_slot(node: *mut Node) -> *mut ManuallyDrop<Bytes> {
    // SAFETY: per the contract, the node has a value handle, which follows
    // the tower inside the node's allocation, aligned for `Bytes`
    // (NODE_ALIGN covers it).
    unsafe {
        let height = (*node).height as usize;
        node.cast::<u8>()
            .add(value_offset(height))
            .cast::<ManuallyDrop<Bytes>>()
    }
}

/// The start of the encoded key of `node`.
///
/// # Safety
/// `node` points to a node allocated by `allocate_node` whose `height` and
/// `has_value` are initialised.
unsafe fn key_ptr(node: *mut Node) -> *mut u8 {
    // SAFETY: per the contract, the fields are initialised, and the key
    // lies `key_offset` bytes into the node's allocation, which
    // `node_bytes` sized for it.
    unsafe {
        let height = (*node).height as usize;
        let has_value = (*node).has_value;
        node.cast::<u8>().add(key_offset(height, has_value))
    }
}

/// How the node compares with `target` (node first), by internal-key order.
fn compare(node: *mut Node, target: &Target<'_>) -> KeyOrdering {
    // SAFETY: only published nodes (or the inserting thread's own, fully
    // written node) are compared, while their list is alive.
    let entry = Entry {
        node: unsafe { NonNull::new_unchecked(node) },
        list: PhantomData,
    };
    entry.compare(target)
}

/// One entry of a [`SkipList`], borrowed from it.
#[derive(Clone, Copy)]
pub(crate) struct Entry<'list> {
    node: NonNull<Node>,
    list: PhantomData<&'list SkipList>,
}

impl<'list> Entry<'list> {
    fn new(node: *mut Node) -> Option<Self> {
        NonNull::new(node).map(|node| Self {
            node,
            list: PhantomData,
        })
    }

    fn header(&self) -> &'list Node {
        // SAFETY: the node is published in a list that lives for 'list, and
        // its fixed part is never written after publication.
        unsafe { self.node.as_ref() }
    }

    /// The encoded internal key.
    pub(crate) fn key(&self) -> &'list [u8] {
        let header = self.header();
        // SAFETY: the key bytes were written before publication and are
        // never written again; they live as long as the list's arena.
        unsafe { std::slice::from_raw_parts(key_ptr(self.node.as_ptr()), header.key_len as usize) }
    }

    /// The user key and the trailer.
    pub(crate) fn user_key_and_trailer(&self) -> (&'list [u8], u64) {
        let key = self.key();
        let (user_key, trailer) = key.split_at(key.len() - TRAILER_BYTES);
        let mut trailer_bytes = [0u8; TRAILER_BYTES];
        trailer_bytes.copy_from_slice(trailer);
        (user_key, u64::from_le_bytes(trailer_bytes))
    }

    /// The value (empty for tombstones).
    pub(crate) fn value(&self) -> &'list Bytes {
        if !self.header().has_value {
            return &EMPTY_VALUE;
        }
        // SAFETY: the node has a value handle; it was written before
        // publication and is only taken out when the list drops, after
        // every borrow of it ended.
        unsafe { &*value_slot(self.node.as_ptr()) }
    }

    /// The next entry in internal-key order.
    pub(crate) fn next(&self) -> Option<Self> {
        // SAFETY: every node has a level 0, and the list lives for 'list.
        Self::new(unsafe { tower(self.node.as_ptr(), 0) }.load(Ordering::Acquire))
    }

    /// How this entry compares with `target` (entry first).
    fn compare(&self, target: &Target<'_>) -> KeyOrdering {
        let header = self.header();
        header.prefix.cmp(&target.prefix).then_with(|| {
            let (user_key, trailer) = self.user_key_and_trailer();
            user_key
                .cmp(target.user_key)
                .then_with(|| target.trailer.cmp(&trailer))
        })
    }

    /// This entry's key as a search target.
    fn target(&self) -> Target<'list> {
        let (user_key, trailer) = self.user_key_and_trailer();
        Target {
            prefix: self.header().prefix,
            user_key,
            trailer,
        }
    }
}

/// A position in a [`SkipList`] that holds the list alive, for iterators
/// that must own their source.
pub(crate) struct ListCursor {
    list: Arc<SkipList>,
    /// The current node, `None` when not positioned.
    node: Option<NonNull<Node>>,
    /// Nodes before `node` in list order (the nearest last), left by the
    /// last backward search for `prev` to pop; emptied by every other move.
    window: Vec<NonNull<Node>>,
}

// SAFETY: the cursor only reads published nodes, which are immutable apart
// from their atomic next pointers, in the arena of the list it keeps alive;
// the list itself is Send and Sync (atomics, and `Bytes` values).
unsafe impl Send for ListCursor {}
// SAFETY: as for Send: shared access only reads immutable or atomic data.
unsafe impl Sync for ListCursor {}

impl std::fmt::Debug for ListCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListCursor")
            .field("key", &self.entry().map(|entry| entry.key()))
            .finish_non_exhaustive()
    }
}

impl ListCursor {
    /// An unpositioned cursor over `list`.
    pub(crate) fn new(list: Arc<SkipList>) -> Self {
        Self {
            list,
            node: None,
            window: Vec::new(),
        }
    }

    /// The current entry.
    pub(crate) fn entry(&self) -> Option<Entry<'_>> {
        self.node.map(|node| Entry {
            node,
            list: PhantomData,
        })
    }

    /// Leaves the cursor unpositioned.
    pub(crate) fn clear(&mut self) {
        self.move_to(None);
    }

    /// To `node`, forgetting the backward window (any move but `prev`).
    fn move_to(&mut self, node: Option<NonNull<Node>>) {
        self.node = node;
        self.window.clear();
    }

    /// To the first entry at or after `target`.
    pub(crate) fn seek(&mut self, target: &Target<'_>) {
        let node = self.list.seek(target).map(|entry| entry.node);
        self.move_to(node);
    }

    /// To the first entry after `target`.
    pub(crate) fn seek_after(&mut self, target: &Target<'_>) {
        let node = self.list.seek_after(target).map(|entry| entry.node);
        self.move_to(node);
    }

    /// To the last entry at or before `target`.
    pub(crate) fn seek_at_or_before(&mut self, target: &Target<'_>) {
        let node = self.list.seek_at_or_before(target).map(|entry| entry.node);
        self.move_to(node);
    }

    /// To the last entry before `target`.
    pub(crate) fn seek_before(&mut self, target: &Target<'_>) {
        let node = self.list.seek_before(target).map(|entry| entry.node);
        self.move_to(node);
    }

    /// To the smallest entry.
    pub(crate) fn seek_to_first(&mut self) {
        let node = self.list.first().map(|entry| entry.node);
        self.move_to(node);
    }

    /// To the largest entry.
    pub(crate) fn seek_to_last(&mut self) {
        let node = self.list.last().map(|entry| entry.node);
        self.move_to(node);
    }

    /// To the next entry (one pointer load); stays unpositioned if it was.
    pub(crate) fn next(&mut self) {
        let next = self.entry().and_then(|entry| entry.next()).map(|e| e.node);
        self.node = next;
        self.window.clear();
    }

    /// To the previous entry: the top of the backward window, or, when it
    /// is empty, a search down to [`BACK_WINDOW_LEVEL`] that refills it;
    /// stays unpositioned if it was.
    pub(crate) fn prev(&mut self) {
        let Some(node) = self.node else {
            return;
        };
        if self.window.is_empty() {
            let target = Entry {
                node,
                list: PhantomData,
            }
            .target();
            self.list.window_before(&target, &mut self.window);
        }
        self.node = self.window.pop();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn list_with(block_bytes: usize, keys: &[(&[u8], u64, usize)]) -> Arc<SkipList> {
        let list = Arc::new(SkipList::new(block_bytes));
        for &(user_key, trailer, height) in keys {
            let value = Bytes::from(format!("{trailer}"));
            assert!(list.insert(user_key, trailer, value, height));
        }
        list
    }

    fn keys_of(list: &Arc<SkipList>) -> Vec<(Vec<u8>, u64)> {
        let mut cursor = ListCursor::new(Arc::clone(list));
        cursor.seek_to_first();
        let mut keys = Vec::new();
        while let Some(entry) = cursor.entry() {
            let (user_key, trailer) = entry.user_key_and_trailer();
            assert_eq!(entry.value(), &Bytes::from(format!("{trailer}")));
            keys.push((user_key.to_vec(), trailer));
            cursor.next();
        }
        keys
    }

    #[test]
    fn entries_come_back_in_internal_key_order_across_blocks() {
        let long_key = vec![b'z'; 300];
        let list = list_with(
            256,
            &[
                (b"b", 5, 3),
                (b"a", 1, 1),
                (b"b", 9, 12),
                (&long_key, 2, 2),
                (b"", 7, 1),
                (b"c", 0, 4),
            ],
        );
        let expected: Vec<(Vec<u8>, u64)> = vec![
            (b"".to_vec(), 7),
            (b"a".to_vec(), 1),
            (b"b".to_vec(), 9),
            (b"b".to_vec(), 5),
            (b"c".to_vec(), 0),
            (long_key, 2),
        ];
        assert_eq!(keys_of(&list), expected);
    }

    #[test]
    fn a_present_internal_key_keeps_its_first_value() {
        let list = list_with(1 << 12, &[(b"k", 3, 2)]);
        assert!(!list.insert(b"k", 3, Bytes::from_static(b"second"), 1));
        let found = list.seek(&Target::new(b"k", 3)).unwrap();
        assert_eq!(found.value(), &Bytes::from_static(b"3"));
        assert_eq!(found.next().map(|entry| entry.key().len()), None);
    }

    #[test]
    fn cursor_seeks_and_steps_both_ways() {
        let list = list_with(1 << 12, &[(b"a", 1, 1), (b"b", 1, 2), (b"c", 1, 3)]);
        let mut cursor = ListCursor::new(Arc::clone(&list));
        let user_key =
            |cursor: &ListCursor| cursor.entry().map(|e| e.user_key_and_trailer().0.to_vec());
        cursor.seek(&Target::new(b"b", 1));
        assert_eq!(user_key(&cursor), Some(b"b".to_vec()));
        cursor.seek_after(&Target::new(b"b", 1));
        assert_eq!(user_key(&cursor), Some(b"c".to_vec()));
        cursor.prev();
        assert_eq!(user_key(&cursor), Some(b"b".to_vec()));
        cursor.seek_before(&Target::new(b"b", 1));
        assert_eq!(user_key(&cursor), Some(b"a".to_vec()));
        cursor.prev();
        assert_eq!(user_key(&cursor), None);
        cursor.next();
        assert_eq!(user_key(&cursor), None);
        cursor.seek_at_or_before(&Target::new(b"b", 1));
        assert_eq!(user_key(&cursor), Some(b"b".to_vec()));
        cursor.seek_to_last();
        assert_eq!(user_key(&cursor), Some(b"c".to_vec()));
        cursor.next();
        assert_eq!(user_key(&cursor), None);
    }

    #[test]
    fn prev_walks_back_through_windows_and_misses_only_later_inserts() {
        let user_keys: Vec<[u8; 2]> = (0..120u8).map(|i| [b'k', i * 2]).collect();
        let list = Arc::new(SkipList::new(1 << 12));
        for (i, user_key) in user_keys.iter().enumerate() {
            assert!(list.insert(
                user_key,
                1,
                Bytes::new(),
                height_from_hash(i as u64 * 7 + 1)
            ));
        }
        let mut cursor = ListCursor::new(Arc::clone(&list));
        cursor.seek_to_last();
        let mut backward = Vec::new();
        while let Some(entry) = cursor.entry() {
            backward.push(entry.user_key_and_trailer().0.to_vec());
            cursor.prev();
            if backward.len() == 60 {
                // Taken after the window: skipped by the walk back through
                // it, seen by the next search (or a new positioning).
                assert!(list.insert(&[b'k', 119 - 2 * 2], 1, Bytes::new(), 1));
            }
        }
        let mut expected: Vec<Vec<u8>> = user_keys.iter().rev().map(|k| k.to_vec()).collect();
        let later = vec![b'k', 115];
        let seen_later = backward.contains(&later);
        if seen_later {
            let at = expected.iter().position(|k| k < &later).unwrap();
            expected.insert(at, later);
        }
        assert_eq!(backward, expected);
        cursor.seek_to_last();
        cursor.next();
        cursor.prev();
        assert!(
            cursor.entry().is_none(),
            "prev from the end stays unpositioned"
        );
    }

    #[test]
    fn inserts_through_a_splice_stay_ordered_when_keys_ascend_descend_or_others_insert_between() {
        let list = Arc::new(SkipList::new(1 << 12));
        let other = SkipList::new(1 << 12);
        let mut splice = Splice::new(&list);
        let mut expected = std::collections::BTreeSet::new();
        // Ascending runs through the splice, a descending stretch, plain
        // inserts between and just after the remembered position (as
        // another writer's), and a splice of another list.
        let mut order: Vec<(u16, bool)> = (0..200u16).map(|i| (i * 3, true)).collect();
        order.extend((0..100u16).rev().map(|i| (i * 3 + 1, true)));
        order.extend((0..200u16).map(|i| (i * 3 + 2, i % 2 == 0)));
        for (i, (key, hinted)) in order.into_iter().enumerate() {
            let user_key = key.to_be_bytes();
            let trailer = 1;
            let value = Bytes::from(format!("{trailer}"));
            let height = height_from_hash(i as u64 * 0x9E37_79B9 + 1);
            let inserted = if hinted {
                list.insert_at(&mut splice, &user_key, trailer, value, height)
            } else {
                list.insert(&user_key, trailer, value, height)
            };
            assert!(inserted);
            expected.insert((user_key.to_vec(), trailer));
        }
        assert!(!list.insert_at(&mut splice, &3u16.to_be_bytes(), 1, Bytes::new(), 2));
        let mut foreign = Splice::new(&other);
        assert!(list.insert_at(&mut foreign, b"\xff\xff\xff", 1, Bytes::from("1"), 3));
        expected.insert((b"\xff\xff\xff".to_vec(), 1));
        assert!(other.first().is_none());
        assert_eq!(keys_of(&list), expected.into_iter().collect::<Vec<_>>());
    }

    /// Bytes handed out so far from the arena's current block (0 before
    /// the first).
    fn used_bytes_of_current_block(list: &SkipList) -> usize {
        NonNull::new(list.arena.current.load(Ordering::Acquire)).map_or(0, |block| {
            // SAFETY: blocks live as long as the arena, which `list` holds.
            unsafe { block.as_ref() }.used_bytes.load(Ordering::Relaxed)
        })
    }

    #[test]
    fn nodes_with_empty_values_have_no_value_handle_and_read_back_empty() {
        let list = Arc::new(SkipList::new(1 << 12));
        let user_key = [b'k'; 16];
        let key_len = user_key.len() + TRAILER_BYTES;
        // A tombstone of height 1: fixed part, one next pointer, the key.
        assert!(list.insert(&user_key, 9, Bytes::new(), 1));
        assert_eq!(used_bytes_of_current_block(&list), 56);
        assert_eq!(node_bytes(1, false, key_len), 56);
        assert!(list.insert(&user_key, 8, Bytes::from_static(b"v"), 1));
        assert_eq!(used_bytes_of_current_block(&list), 56 + 88);
        assert_eq!(node_bytes(1, true, key_len), 88);
        for height in 1..=MAX_HEIGHT {
            assert_eq!(
                node_bytes(height, false, key_len) + VALUE_BYTES,
                node_bytes(height, true, key_len)
            );
        }
        assert!(list.insert(&user_key, 7, Bytes::new(), MAX_HEIGHT));
        assert!(!list.insert(&user_key, 7, Bytes::from_static(b"late"), 2));
        let mut cursor = ListCursor::new(Arc::clone(&list));
        cursor.seek_to_first();
        let mut entries = Vec::new();
        while let Some(entry) = cursor.entry() {
            let (found_key, trailer) = entry.user_key_and_trailer();
            assert_eq!(found_key, user_key);
            entries.push((trailer, entry.value().clone()));
            cursor.next();
        }
        let expected = vec![
            (9, Bytes::new()),
            (8, Bytes::from_static(b"v")),
            (7, Bytes::new()),
        ];
        assert_eq!(entries, expected);
    }

    #[test]
    fn racing_inserts_of_one_key_with_and_without_a_value_keep_the_winners() {
        const KEYS: u16 = 2_000;
        let list = Arc::new(SkipList::new(1 << 12));
        let value_of = |thread: usize, key: u16| match thread {
            0 => Bytes::new(),
            _ => Bytes::from(format!("{thread}-{key}")),
        };
        // Three threads insert the same internal keys in the same order, one
        // of them with empty values, so that losers of both layouts go
        // through the failed insert's clean-up.
        let wins: Vec<Vec<bool>> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..3)
                .map(|thread| {
                    let list = &list;
                    scope.spawn(move || {
                        (0..KEYS)
                            .map(|key| {
                                let height = height_from_hash(u64::from(key) * 0x9E37_79B9 + 1);
                                list.insert(&key.to_be_bytes(), 1, value_of(thread, key), height)
                            })
                            .collect()
                    })
                })
                .collect();
            racers
                .into_iter()
                .map(|racer| racer.join().unwrap())
                .collect()
        });
        let mut cursor = ListCursor::new(Arc::clone(&list));
        cursor.seek_to_first();
        for key in 0..KEYS {
            let winners: Vec<usize> = (0..3)
                .filter(|&thread| wins[thread][key as usize])
                .collect();
            assert_eq!(winners.len(), 1, "key {key}");
            let entry = cursor.entry().unwrap();
            assert_eq!(entry.user_key_and_trailer(), (&key.to_be_bytes()[..], 1));
            assert_eq!(entry.value(), &value_of(winners[0], key));
            cursor.next();
        }
        assert!(cursor.entry().is_none());
    }

    #[test]
    fn heights_follow_two_trailing_zero_bits_per_level() {
        assert_eq!(height_from_hash(1), 1);
        assert_eq!(height_from_hash(0b100), 2);
        assert_eq!(height_from_hash(0b1000), 2);
        assert_eq!(height_from_hash(0b1_0000), 3);
        assert_eq!(height_from_hash(0), MAX_HEIGHT);
    }
}

#[cfg(all(test, loom))]
#[path = "skiplist_loom.rs"]
mod loom_models;
