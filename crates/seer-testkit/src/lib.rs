//! # seer-testkit
//!
//! seerdb's dev-only test kit (`publish = false`). It depends on the
//! library crates and never the other way round: a library crate lists it
//! as a dev-dependency at most, so nothing here is in a release build. It
//! owns:
//!
//! - [`fuzz`]: the entry points of every cargo-fuzz target
//!   (`crates/*/fuzz`), written against the libraries' public API, so the
//!   fuzz targets and the corpus-replay tests run the same code;
//! - [`corpus`]: replay of a checked-in fuzz corpus;
//! - [`datadriven`]: the parser and runner of data-driven test files
//!   (`testdata/*.txt`: commands, inputs and expected outputs), which each
//!   crate's tests interpret;
//! - [`model`]: the `BTreeMap` model of the database's contents with
//!   string-append merge semantics;
//! - [`forwarding_fs`]: a file system that forwards every call to another
//!   one, with hooks on file creation and removal;
//! - [`alloc_count`]: a global allocator counting each thread's heap
//!   allocations, for the allocation-count tests (the kit's one `unsafe`
//!   block, forwarding to the system allocator).

#[allow(unsafe_code)]
pub mod alloc_count;
pub mod corpus;
pub mod datadriven;
pub mod forwarding_fs;
pub mod fuzz;
pub mod model;

pub use forwarding_fs::ForwardingFs;
pub use model::{Model, Op, MERGE_DELIMITER};
