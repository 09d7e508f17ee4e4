//! Finding and starting the runtime `cargo xtask setup` installed: the state folder, its
//! manifest (`runtime.json`) and the once-per-process runtime initialization.

use super::ffi::{check, string_out};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use ttnn_sys as sys;

/// The `ttnn` wheel the project is pinned to (the one `cargo xtask setup` installs).
pub const TTNN_VERSION: &str = "0.81.1";

/// Bumped when the manifest's meaning changes; an older manifest asks for a new setup.
pub const MANIFEST_FORMAT: u32 = 1;

/// The manifest's file name inside the state folder.
pub const MANIFEST_FILE: &str = "runtime.json";

/// The project's state folder: `$TTNN_OOM_HOME`, else `.ttnn-oom/` at the workspace root.
pub fn state_dir() -> PathBuf {
    match std::env::var_os("TTNN_OOM_HOME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root().join(".ttnn-oom"),
    }
}

/// The workspace root this crate was built in.
pub fn workspace_root() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| crate_dir.to_path_buf())
}

/// What `cargo xtask setup` installed, written to `<state>/runtime.json`. All paths absolute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`] when written.
    pub format: u32,
    /// The installed `ttnn` wheel version.
    pub ttnn_version: String,
    /// The interpreter the venv was made from, and its version (`3.12.1`).
    pub python: PathBuf,
    pub python_version: String,
    /// The shared libpython the shim loads, and the interpreter's home (its `sys.base_prefix`).
    pub libpython: PathBuf,
    pub python_home: PathBuf,
    pub venv: PathBuf,
    pub site_packages: PathBuf,
    /// `TT_METAL_RUNTIME_ROOT`: the wheel's package dir mirrored, plus the stub sfpi compiler.
    pub runtime_root: PathBuf,
    /// The `--version` line the stub compiler prints (read from the wheel's firmware ELFs).
    pub sfpi_version: String,
    /// `TT_METAL_CACHE`.
    pub cache_dir: PathBuf,
    /// `TT_METAL_LOGS_PATH` (where tt-metal's `generated/` goes).
    pub logs_dir: PathBuf,
    /// `TT_LOGGER_FILE`: tt-metal's log lines, kept off stdout.
    pub log_file: PathBuf,
    /// Mock cluster descriptors by device name (`n150`, `p150`).
    pub mock_devices: BTreeMap<String, PathBuf>,
}

impl Manifest {
    pub fn path_in(state_dir: &Path) -> PathBuf {
        state_dir.join(MANIFEST_FILE)
    }

    /// Reads the manifest of a state folder; a missing or stale one is [`Error::RuntimeUnavailable`].
    pub fn load(state_dir: &Path) -> Result<Manifest> {
        let path = Self::path_in(state_dir);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::RuntimeUnavailable(format!(
                "no TT-NN runtime set up ({}: {e}); run `cargo xtask setup`",
                path.display()
            ))
        })?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| {
            Error::RuntimeUnavailable(format!(
                "{} is unreadable ({e}); run `cargo xtask setup` again",
                path.display()
            ))
        })?;
        if m.format != MANIFEST_FORMAT || m.ttnn_version != TTNN_VERSION {
            return Err(Error::RuntimeUnavailable(format!(
                "{} was written for ttnn {} (format {}), this build wants ttnn {TTNN_VERSION} (format {MANIFEST_FORMAT}); run `cargo xtask setup` again",
                path.display(),
                m.ttnn_version,
                m.format
            )));
        }
        Ok(m)
    }

    /// Writes the manifest (pretty JSON) into a state folder.
    pub fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(Self::path_in(state_dir), text + "\n")
    }

    /// Environment variables the runtime starts with (set before Python starts). Variables the
    /// user already set (logger level, ...) are kept as they are. What depends on the target
    /// (mock or hardware) is set at device open: [`Manifest::device_environment`].
    pub fn environment(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        let s = |p: &Path| p.to_string_lossy().into_owned();
        env.insert("PYTHONHOME".into(), s(&self.python_home));
        env.insert("PYTHONNOUSERSITE".into(), "1".into());
        env.insert("PYTHONDONTWRITEBYTECODE".into(), "1".into());
        env.insert("TT_METAL_LOGS_PATH".into(), s(&self.logs_dir));
        for (k, default) in [
            ("TT_LOGGER_FILE", s(&self.log_file)),
            ("TT_LOGGER_LEVEL", "error".to_string()),
            ("LOGURU_LEVEL", "WARNING".to_string()),
        ] {
            let value = std::env::var(k).unwrap_or(default);
            env.insert(k.into(), value);
        }
        env
    }

    /// Environment variables set just before the first device of the process opens (tt-metal
    /// reads them then). A mock board gets the mock runtime root (stub compiler), its cluster
    /// descriptor and its own kernel cache; hardware gets the wheel's own package as the runtime
    /// root and a separate cache, so no stub-built kernel can ever reach a real device.
    pub fn device_environment(&self, mock_board: Option<&str>) -> Result<BTreeMap<String, String>> {
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let mut env = BTreeMap::new();
        match mock_board {
            Some(board) => {
                // tt-metal wants the trailing slash on the root.
                env.insert(
                    "TT_METAL_RUNTIME_ROOT".into(),
                    format!("{}/", s(&self.runtime_root)),
                );
                env.insert("TT_METAL_CACHE".into(), s(&self.cache_dir.join("mock")));
                env.insert(
                    "TT_METAL_MOCK_CLUSTER_DESC_PATH".into(),
                    s(self.mock_descriptor(board)?),
                );
            }
            None => {
                env.insert(
                    "TT_METAL_RUNTIME_ROOT".into(),
                    format!("{}/", s(&self.site_packages.join("ttnn"))),
                );
                env.insert("TT_METAL_CACHE".into(), s(&self.cache_dir.join("hardware")));
            }
        }
        Ok(env)
    }

    /// The mock cluster descriptor of a device.
    pub fn mock_descriptor(&self, device: &str) -> Result<&Path> {
        self.mock_devices.get(device).map(PathBuf::as_path).ok_or_else(|| {
            Error::Unsupported(format!(
                "no mock cluster descriptor for `{device}` in the runtime manifest (have: {}); run `cargo xtask setup`",
                self.mock_devices.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }
}

/// The started runtime of this process (cheap to clone).
#[derive(Debug, Clone)]
pub struct Runtime {
    manifest: Arc<Manifest>,
}

static STARTED: Mutex<Option<Runtime>> = Mutex::new(None);

fn cstring(what: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::InvalidArgument(format!("{what} contains a NUL byte")))
}

impl Runtime {
    /// The runtime of the state folder ([`state_dir`]), started on first use in this process.
    pub fn discover() -> Result<Runtime> {
        Self::start_from(&state_dir())
    }

    /// The runtime of a given state folder, started on first use in this process. A process
    /// runs one runtime: a later call returns the first one whatever the folder.
    pub fn start_from(state_dir: &Path) -> Result<Runtime> {
        let mut started = STARTED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rt) = started.as_ref() {
            return Ok(rt.clone());
        }
        let manifest = Manifest::load(state_dir)?;
        for (what, p) in [
            ("libpython", &manifest.libpython),
            ("site-packages", &manifest.site_packages),
        ] {
            if !p.exists() {
                return Err(Error::RuntimeUnavailable(format!(
                    "{what} {} is gone; run `cargo xtask setup`",
                    p.display()
                )));
            }
        }
        let lib = cstring("libpython path", &manifest.libpython.to_string_lossy())?;
        let site = cstring(
            "site-packages path",
            &manifest.site_packages.to_string_lossy(),
        )?;
        let env_json = serde_json::to_string(&manifest.environment())
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let env = cstring("environment", &env_json)?;
        // SAFETY: three valid NUL-terminated strings that outlive the call; the shim copies what
        // it keeps.
        check(unsafe { sys::ttnn_runtime_init(lib.as_ptr(), site.as_ptr(), env.as_ptr()) })?;
        let rt = Runtime {
            manifest: Arc::new(manifest),
        };
        *started = Some(rt.clone());
        Ok(rt)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The runtime's own version (the `ttnn` package's).
    pub fn version(&self) -> Result<String> {
        // SAFETY: the out-pointer is valid for the call; string_out takes ownership of the result.
        string_out(|out| unsafe { sys::ttnn_runtime_version(out) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_manifest_names_the_setup_command() {
        let dir = std::env::temp_dir().join(format!("ttnn-oom-no-manifest-{}", std::process::id()));
        let err = Manifest::load(&dir).unwrap_err();
        assert!(matches!(err, Error::RuntimeUnavailable(_)), "{err:?}");
        assert!(err.to_string().contains("cargo xtask setup"), "{err}");
    }

    #[test]
    fn a_stale_manifest_asks_for_a_new_setup() {
        let dir = std::env::temp_dir().join(format!("ttnn-oom-stale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let m = Manifest {
            format: MANIFEST_FORMAT,
            ttnn_version: "0.0.1".into(),
            python: "/p".into(),
            python_version: "3.12.1".into(),
            libpython: "/l".into(),
            python_home: "/h".into(),
            venv: "/v".into(),
            site_packages: "/s".into(),
            runtime_root: "/r".into(),
            sfpi_version: "x".into(),
            cache_dir: "/c".into(),
            logs_dir: "/g".into(),
            log_file: "/g/f".into(),
            mock_devices: BTreeMap::new(),
        };
        m.save(&dir).unwrap();
        let err = Manifest::load(&dir).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            err.to_string().contains("0.0.1") && err.to_string().contains(TTNN_VERSION),
            "{err}"
        );
        assert_eq!(m.environment()["PYTHONHOME"], "/h");
        let hw = m.device_environment(None).unwrap();
        assert_eq!(hw["TT_METAL_RUNTIME_ROOT"], "/s/ttnn/");
        assert!(!hw.contains_key("TT_METAL_MOCK_CLUSTER_DESC_PATH"));
        let err = m.device_environment(Some("n150")).unwrap_err();
        assert!(err.to_string().contains("cargo xtask setup"), "{err}");
    }
}
