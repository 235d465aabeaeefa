//! Plugins as the host knows them: the registry of built-ins and `.so` files, what each
//! factory's config accepts (`fields`), what a plugin declares (`marquee plugins describe`), and
//! new plugin crates made from templates.

pub mod api_copy;
pub mod describe;
pub mod fields;
pub mod new_plugin;
pub mod registry;
pub mod safe_mode;
pub mod scan;
