//! SQL snapshots.
