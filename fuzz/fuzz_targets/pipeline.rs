//! Whole requests in the form of `src/query/cases.txt` (`METHOD /path?query [| Header: value]*
//! [| body]`) through parse → plan → SQL rendering against the fixed schema cache, so that
//! overflows and panics of the later stages are found too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tusk::http::RawRequest;
use tusk_fuzz::{config, pipeline, text};

fuzz_target!(|data: &[u8]| {
    pipeline(config(), &RawRequest::from_line(&text(data)));
});
