//! Plugin authoring, for the people who write plugins rather than run
//! hosts: `switchboard new` scaffolds a plugin project in any directory
//! ([`scaffold`]) and `switchboard build` builds one into a component and
//! checks it against the contract ([`build`]). Nothing in the serving path
//! uses this module; it uses the sandbox only to load what it built.

pub mod build;
pub mod scaffold;
mod sdk_files;

/// The languages a plugin can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    Rust,
}

impl Language {
    /// The language of the project in `dir`, from the files it has.
    pub fn of_project(dir: &std::path::Path) -> anyhow::Result<Language> {
        if dir.join("Cargo.toml").is_file() {
            return Ok(Language::Rust);
        }
        anyhow::bail!(
            "{} holds no plugin project (no Cargo.toml); create one with `switchboard new --lang rust {}`",
            dir.display(),
            dir.display()
        )
    }
}
