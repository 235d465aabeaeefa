//! Plugin configs: the first byte picks a built-in renderer or processor, the rest is its config
//! as JSON. The config goes through the host's checks in a scene (then, if accepted, three
//! frames are made), and, when it passes the host's check of what the plugin declares (all a
//! factory is promised), straight to the plugin's factory as the host would pass it. Neither
//! panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use marquee::engine::{Engine, EngineOptions};
use marquee::model::scene::Scene;
use marquee_plugin_api::{InitCtx, PluginKind};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    let Ok(json) = std::str::from_utf8(json) else {
        return;
    };
    let registry = marquee_fuzz::registry();
    let stages: Vec<_> = registry
        .plugins()
        .iter()
        .flat_map(|p| {
            [PluginKind::Renderer, PluginKind::Processor]
                .into_iter()
                .filter(|&k| p.manifest.factory(k).is_some())
                .map(move |k| (p, k))
        })
        .collect();
    let (plugin, kind) = stages[pick as usize % stages.len()];
    let init = InitCtx {
        width: 16,
        height: 8,
        fps: 30.0,
        seed: 1,
    };
    let Ok(serde_json::Value::Object(config)) = serde_json::from_str::<serde_json::Value>(json) else {
        return;
    };
    let Ok(toml::Value::Table(config)) = toml::Value::try_from(&config) else {
        return;
    };
    // Straight to the factory, with a config the host's check passes: what is left to the
    // plugin's own parsing must be refused, not panic.
    let declared = plugin.config(kind).expect("a factory of this kind");
    let known = config.keys().all(|k| declared.field(k).is_some());
    if known && declared.check(&config).is_ok() {
        match kind {
            PluginKind::Renderer => drop((plugin.module.new_renderer())(json.into(), &init)),
            _ => drop((plugin.module.new_processor())(json.into(), &init)),
        }
    }
    // Through a scene: the host's checks first.
    let mut stage = toml::Table::new();
    stage.insert("plugin".into(), plugin.id().into());
    stage.insert("config".into(), config.into());
    let mut scene = toml::Table::new();
    let canvas = toml::toml! { width = 16
    height = 8 };
    scene.insert("canvas".into(), canvas.into());
    let (layers, processors) = match kind {
        PluginKind::Renderer => (vec![stage], vec![]),
        _ => {
            let solid = toml::toml! { plugin = "gradient" };
            (vec![solid], vec![stage])
        }
    };
    scene.insert(
        "layer".into(),
        toml::Value::Array(layers.into_iter().map(Into::into).collect()),
    );
    scene.insert(
        "processor".into(),
        toml::Value::Array(processors.into_iter().map(Into::into).collect()),
    );
    let Ok(text) = toml::to_string(&scene) else {
        return;
    };
    let path = marquee_fuzz::scratch().join("config.toml");
    let Ok(scene) = Scene::parse(&path, text, registry) else {
        return;
    };
    let options = EngineOptions {
        scene_recorders: false,
        ..EngineOptions::default()
    };
    if let Ok(mut engine) = Engine::new(&scene, &options) {
        for _ in 0..3 {
            engine.step();
        }
    }
});
