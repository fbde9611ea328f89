//! Plugin authoring, for the people who write plugins rather than run
//! hosts: `switchboard new` scaffolds a plugin project in any directory
//! ([`scaffold`]), `switchboard build` builds one into a component and
//! checks it against the contract ([`build`]), `switchboard dev` chats
//! with it and hot-reloads it on every save ([`dev`]), and `switchboard
//! test` runs its conversation tests ([`conversation`]), both on a
//! [`local_host::LocalHost`]: a whole host in the process, against the fake
//! Graph API. Nothing in the serving path uses this module.

pub mod build;
pub mod conversation;
pub mod dev;
pub mod local_host;
pub mod replies;
pub mod scaffold;
mod sdk_files;

/// The languages a plugin can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    Rust,
    /// TypeScript (or JavaScript), built with componentize-js.
    #[value(name = "ts", alias = "typescript", alias = "js")]
    TypeScript,
    /// Python, built with componentize-py.
    #[value(alias = "py")]
    Python,
}

impl Language {
    /// The language of the project in `dir`, from the files it has.
    pub fn of_project(dir: &std::path::Path) -> anyhow::Result<Language> {
        if dir.join("Cargo.toml").is_file() {
            return Ok(Language::Rust);
        }
        if dir.join("package.json").is_file() {
            return Ok(Language::TypeScript);
        }
        if dir.join("app.py").is_file() || dir.join("pyproject.toml").is_file() {
            return Ok(Language::Python);
        }
        anyhow::bail!(
            "{} holds no plugin project (no Cargo.toml, package.json or app.py); create one with `switchboard new --lang rust|ts|python {}`",
            dir.display(),
            dir.display()
        )
    }
}
