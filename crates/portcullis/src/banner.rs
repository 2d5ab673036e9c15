//! What `serve` says when it starts: where it listens, which database and
//! data directory it uses, where the local keys are, how to stop it and
//! where the docs are; and a warning when it is about to create a new,
//! empty SQLite database somewhere a user may not expect.

use crate::settings::{Settings, DATA_DIR_DEFAULT};
use std::path::{Path, PathBuf};

/// The SQLite file `serve` is about to create, if the database URL names a
/// file that does not exist yet. Warns when it is not the default file, or
/// when a `portcullis-data` with a database exists in a parent folder
/// (started from a subfolder by mistake).
pub fn new_sqlite_file(settings: &Settings) -> Option<PathBuf> {
    let path = PathBuf::from(settings.database_url.strip_prefix("sqlite://")?);
    if path.exists() {
        return None;
    }
    let shown = absolute(&path);
    let default_file = settings.data_dir.join("portcullis.db");
    if path != default_file {
        eprintln!(
            "portcullis: warning: {} does not exist: creating a NEW, EMPTY database there (check --database-url for a typo)",
            shown.display()
        );
    }
    if settings.data_dir == Path::new(DATA_DIR_DEFAULT) {
        let here = std::env::current_dir().ok()?;
        for parent in here.ancestors().skip(1) {
            let existing = parent.join("portcullis-data").join("portcullis.db");
            if existing.exists() {
                eprintln!(
                    "portcullis: warning: creating a NEW, EMPTY sandbox in {}, but {} exists: \
                     did you mean to start from {}?",
                    shown.display(),
                    existing.display(),
                    parent.display()
                );
                break;
            }
        }
    }
    Some(path)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// The start-up lines, printed on stdout just before `portcullis listening on URL`.
pub fn print(settings: &Settings, url: &str, new_sqlite_file: Option<&Path>) {
    let database = match settings.database_url.strip_prefix("sqlite://") {
        Some(path) => format!(
            "SQLite {}{}",
            absolute(Path::new(path)).display(),
            if new_sqlite_file.is_some() {
                " (new)"
            } else {
                ""
            }
        ),
        None => format!(
            "PostgreSQL {}",
            crate::admin::redacted(&settings.database_url)
        ),
    };
    let keys = crate::serve::sandbox_keys_path(settings);
    println!("Portcullis is serving {url}");
    println!("  database:       {database}");
    println!(
        "  data directory: {}",
        absolute(&settings.data_dir).display()
    );
    if keys.exists() {
        println!("  sandbox keys:   {}", keys.display());
    } else {
        println!("  sandbox keys:   none here (merchants were made elsewhere: `portcullis merchant create`)");
    }
    println!("  docs:           README.md, {url}/openapi.json; health: {url}/health, {url}/ready");
    println!("  stop:           Ctrl-C or SIGTERM (requests in flight finish first)");
}
