//! The plugin author's snapshot test: a short trace of a scene using this plugin, checked against
//! the trace stored in `tests/traces/plasma` (written on the first run; `MARQUEE_UPDATE_TRACES=1`
//! rewrites it).

use marquee::plugins::registry::{Origin, Registry};
use marquee::testing::check_trace;

#[test]
fn plasma_trace_matches_the_stored_one() {
    let mut registry = Registry::builtin();
    registry.add_module(marquee_example_plasma::module(), Origin::BuiltIn);
    check_trace("tests/plasma.toml", 20, "tests/traces/plasma", &registry);
}
