//! Parser cases as data.
