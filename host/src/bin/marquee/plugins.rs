//! `marquee plugins`, `plugins describe`, `new-plugin` and `schema`: what the plugins found
//! offer, new plugin crates, and the schemas editors and tools read.

use std::path::PathBuf;

use marquee::model::schema::FileKind;
use marquee::plugins::registry::{Origin, Registry};
use marquee_plugin_api::ABI_VERSION;

use crate::exit::{Exit, Outcome};

/// What `marquee plugins` takes.
#[derive(Debug, clap::Args)]
pub struct PluginsArgs {
    /// Print JSON for tools instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub action: Option<PluginsAction>,
}

/// What to do with one plugin.
#[derive(Debug, clap::Subcommand)]
pub enum PluginsAction {
    /// Shows one plugin's factories, every config field (type, default, range, doc) and an example.
    Describe {
        /// The plugin's id.
        id: String,
    },
}

/// What `marquee new-plugin` takes.
#[derive(Debug, clap::Args)]
pub struct NewPluginArgs {
    /// Plugin id and crate name (lowercase letters, digits, `-`).
    pub name: String,
    /// What kind of plugin.
    #[arg(long, value_enum, default_value_t = KindArg::Renderer)]
    pub kind: KindArg,
    /// Where to create the crate (default: ./NAME).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// The kind of plugin `new-plugin` makes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KindArg {
    /// Draws a layer.
    Renderer,
    /// Transforms the frame.
    Processor,
    /// Writes frames somewhere.
    Recorder,
}

/// What `marquee schema` takes.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Which files the schema describes.
    #[arg(value_enum, default_value_t = SchemaArg::Scene)]
    pub files: SchemaArg,
}

/// What a schema describes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SchemaArg {
    /// Scene files.
    Scene,
    /// Playlist files.
    Playlist,
    /// A line of the `--metrics` stream.
    Metrics,
}

/// Lists the plugins, or describes one.
pub fn plugins(args: PluginsArgs, registry: &Registry) -> anyhow::Result<()> {
    let PluginsArgs { json, action } = args;
    match action {
        None => {
            if json {
                outln!("{:#}", marquee::plugins::describe::registry_json(registry))?;
            } else {
                list_plugins(registry)?;
            }
            // A plugin file that did not load is a failed check: scripts and CI see it.
            if registry.failures().is_empty() {
                Ok(())
            } else {
                Err(Exit(Outcome::CheckFailed).into())
            }
        }
        Some(PluginsAction::Describe { id }) => {
            let Some(plugin) = registry.get(&id) else {
                let ids: Vec<&str> = registry.plugins().iter().map(|p| p.id()).collect();
                let hint = marquee::model::diag::nearest(&id, ids.iter().copied())
                    .map(|n| format!("did you mean `{n}`? "))
                    .unwrap_or_default();
                eprintln!("error: no plugin `{id}`; {hint}known plugins: {}", ids.join(", "));
                return Err(Exit(Outcome::BadInput).into());
            };
            if json {
                outln!("{:#}", marquee::plugins::describe::plugin_json(plugin))?;
            } else {
                out!("{}", marquee::plugins::describe::describe(plugin))?;
            }
            Ok(())
        }
    }
}

/// Makes a new plugin crate.
pub fn new_plugin(args: NewPluginArgs) -> anyhow::Result<()> {
    let NewPluginArgs { name, kind, dir } = args;
    let kind = match kind {
        KindArg::Renderer => marquee_plugin_api::PluginKind::Renderer,
        KindArg::Processor => marquee_plugin_api::PluginKind::Processor,
        KindArg::Recorder => marquee_plugin_api::PluginKind::Recorder,
    };
    let spec = marquee::plugins::new_plugin::NewPlugin {
        dir: dir.unwrap_or_else(|| PathBuf::from(&name)),
        name,
        kind,
    };
    let written = marquee::plugins::new_plugin::generate(&spec)?;
    let api = spec.dir.join(marquee::plugins::new_plugin::API_DIR);
    for f in written.iter().filter(|f| !f.starts_with(&api)) {
        outln!("created {}", f.display())?;
    }
    outln!(
        "created {}/ (the crate's own copy of the plugin API)",
        api.display()
    )?;
    outln!(
        "\nnext:\n  cd {}\n  cargo build --release && cargo test\n  marquee run tests/scene.toml --plugin-dir target/release\n  marquee test --plugin-dir target/release   # the first run writes tests/traces/; commit it",
        spec.dir.display()
    )?;
    Ok(())
}

/// Prints a schema.
pub fn schema(args: SchemaArgs, registry: &Registry) -> anyhow::Result<()> {
    let SchemaArgs { files } = args;
    let schema = match files {
        SchemaArg::Scene => marquee::model::schema::schema(FileKind::Scene, registry),
        SchemaArg::Playlist => marquee::model::schema::schema(FileKind::Playlist, registry),
        SchemaArg::Metrics => marquee::observe::metrics::schema(),
    };
    outln!("{schema:#}")?;
    Ok(())
}

fn list_plugins(registry: &Registry) -> anyhow::Result<()> {
    outln!("host ABI {ABI_VERSION}")?;
    outln!(
        "{:<16} {:<9} {:<28} {:<5} origin",
        "id",
        "version",
        "kinds",
        "abi"
    )?;
    for p in registry.plugins() {
        let kinds: Vec<&str> = p.manifest.kinds().iter().map(|k| k.as_str()).collect();
        outln!(
            "{:<16} {:<9} {:<28} {:<5} {}",
            p.id(),
            p.manifest.version,
            kinds.join(", "),
            p.manifest.abi.to_string(),
            p.origin
        )?;
    }
    for (p, by) in registry.shadowed() {
        if let Origin::BuiltIn = p.origin {
            outln!(
                "(built-in `{}` {} is replaced by {by})",
                p.id(),
                p.manifest.version
            )?;
        }
    }
    for (id, origin, why) in registry.disabled() {
        outln!("(`{id}` from {origin} is disabled: {why})")?;
    }
    let failures = registry.failures();
    if failures.is_empty() {
        outln!("no plugin failed to load")?;
    } else {
        outln!("{} plugin file(s) failed to load:", failures.len())?;
        for f in failures {
            outln!("  {}: {f}", f.path().display())?;
        }
    }
    Ok(())
}
