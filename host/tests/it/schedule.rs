//! The frame order is deterministic: no two systems with conflicting access are left unordered.

use bevy_ecs::prelude::*;
use marquee::engine::{Engine, EngineOptions, FrameSet, frame_schedule};

use crate::util::showcase;

#[test]
fn the_frame_schedule_has_no_ambiguities_single_and_multi_threaded() {
    let registry = marquee::plugins::registry::Registry::builtin();
    for threads in [1, 2] {
        // Engine::new builds the schedule with ambiguity detection set to Error.
        let engine = Engine::new(
            &showcase(&registry),
            &EngineOptions {
                threads,
                scene_recorders: true,
                ..EngineOptions::default()
            },
        );
        assert!(engine.is_ok(), "{:?}", engine.err());
    }
}

#[derive(Resource, Default)]
struct Scratch(u32);

fn writer_a(mut s: ResMut<Scratch>) {
    s.0 += 1;
}

fn writer_b(mut s: ResMut<Scratch>) {
    s.0 *= 2;
}

#[test]
fn ambiguity_detection_is_on() {
    // The same schedule with two unordered writers of one resource must refuse to build.
    let mut world = World::new();
    world.init_resource::<Scratch>();
    let mut schedule = frame_schedule(1);
    schedule.add_systems((
        writer_a.in_set(FrameSet::Metrics),
        writer_b.in_set(FrameSet::Metrics),
    ));
    let err = schedule.initialize(&mut world);
    assert!(err.is_err(), "two unordered writers were accepted");
}
