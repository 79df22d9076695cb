//! berth's system and conformance tests live in `tests/` (lifecycle, config, bad_input,
//! security); this library is empty. See `README.md` in this crate for how to run them and
//! `docs/conformance.md` for the requirement -> test map.
