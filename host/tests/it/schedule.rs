//! The frame order is deterministic: no two systems with conflicting access are left unordered;
//! and a reload changes the world's entities and components in place.

use bevy_ecs::prelude::*;
use marquee::engine::{Engine, EngineOptions, FrameSet, Layer, Order, frame_schedule};

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

/// Two full-canvas solid layers, `a` red and `b` blue, stacked in `order`, `b` at `opacity`.
fn two_layers(order: [&str; 2], opacity: f32) -> marquee::model::scene::Scene {
    let layer = |id: &str| match id {
        "a" => "[[layer]]\nid = \"a\"\nplugin = \"solid\"\nconfig = { color = \"#ff0000\" }\n".to_string(),
        _ => format!(
            "[[layer]]\nid = \"b\"\nplugin = \"solid\"\nopacity = {opacity}\nconfig = {{ color = \"#0000ff\" }}\n"
        ),
    };
    crate::util::scene(&format!(
        "[canvas]\nwidth = 4\nheight = 2\n{}{}",
        layer(order[0]),
        layer(order[1])
    ))
    .unwrap()
}

/// The layer entities with their ids and orders, by id.
fn layers(engine: &mut Engine) -> Vec<(String, Entity, u32)> {
    let world = engine.world();
    let mut query = world.try_query::<(Entity, &Layer, &Order)>().unwrap();
    let mut out: Vec<_> = query
        .iter(world)
        .map(|(e, l, o)| (l.id.clone(), e, o.0))
        .collect();
    out.sort();
    out
}

#[test]
fn a_reload_is_the_scene_difference_applied_as_component_changes() {
    let options = EngineOptions::default();
    let mut engine = Engine::new(&two_layers(["a", "b"], 0.5), &options).unwrap();
    assert_eq!(&engine.step()[..4], &[127, 0, 128, 255], "half blue over red");
    let before = layers(&mut engine);
    assert_eq!(before.iter().map(|l| l.2).collect::<Vec<_>>(), [0, 1]);

    // Restacked: both instances kept (same entities), their orders swapped, and the composite
    // follows the new order from the next frame on.
    assert_eq!(engine.reload(&two_layers(["b", "a"], 0.5), &options).unwrap(), 2);
    let after = layers(&mut engine);
    assert_eq!(
        after.iter().map(|l| (l.0.as_str(), l.1)).collect::<Vec<_>>(),
        before.iter().map(|l| (l.0.as_str(), l.1)).collect::<Vec<_>>(),
        "the same entities"
    );
    assert_eq!(after.iter().map(|l| l.2).collect::<Vec<_>>(), [1, 0]);
    assert_eq!(&engine.step()[..4], &[255, 0, 0, 255], "opaque red on top");

    // An opacity edit changes the `Layer` component in place.
    assert_eq!(engine.reload(&two_layers(["a", "b"], 1.0), &options).unwrap(), 2);
    assert_eq!(layers(&mut engine)[1].1, before[1].1);
    assert_eq!(&engine.step()[..4], &[0, 0, 255, 255], "opaque blue on top");

    // A layer removed goes with its entity; the one left is stacked alone.
    let one = crate::util::scene(
        "[canvas]\nwidth = 4\nheight = 2\n[[layer]]\nid = \"b\"\nplugin = \"solid\"\nconfig = { color = \"#0000ff\" }\n",
    )
    .unwrap();
    assert_eq!(engine.reload(&one, &options).unwrap(), 1);
    let left = layers(&mut engine);
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].1, left[0].2), (before[1].1, 0));
    assert_eq!(&engine.step()[..4], &[0, 0, 255, 255]);
}
