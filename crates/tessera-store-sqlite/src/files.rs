//! The data dir and the database file, readable by the server's user only.
//!
//! The database holds password hashes and private signing keys, so the directory is created
//! 0700 and the database file 0600 before SQLite opens it. SQLite creates the `-wal` and `-shm`
//! files with the database file's permissions; [`restrict_sidecars`] checks that afterwards.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tessera_core::store::StoreResult;

use crate::error::PathError;

/// The database's file name inside the data dir.
pub(crate) const DB_FILE: &str = "tessera.db";

/// Creates `data_dir` (and missing parents) with mode 0700 and the database file with mode
/// 0600, or tightens an existing database file to 0600; the database file's path.
///
/// An existing data dir keeps its mode: where it lives is the operator's choice.
pub(crate) fn prepare(data_dir: &Path) -> StoreResult<PathBuf> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|e| PathError::store_error(data_dir, e))?;
    let db = data_dir.join(DB_FILE);
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&db)
        .map_err(|e| PathError::store_error(&db, e))?;
    restrict(&db)?;
    Ok(db)
}

/// Sets mode 0600 on the database's `-wal` and `-shm` files where they exist.
pub(crate) fn restrict_sidecars(db: &Path) -> StoreResult<()> {
    for suffix in ["-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let sidecar = PathBuf::from(name);
        if sidecar.exists() {
            restrict(&sidecar)?;
        }
    }
    Ok(())
}

fn restrict(path: &Path) -> StoreResult<()> {
    std::fs::set_permissions(path, Permissions::from_mode(0o600))
        .map_err(|e| PathError::store_error(path, e))
}
