//! A PostgreSQL server of a test's own: a data directory in a temporary folder, the
//! server listening on the loopback only, on a port of its own, stopped when dropped.
//!
//! Needs PostgreSQL's programs (`initdb`, `pg_ctl`): on the `PATH`, or where Debian's
//! `postgresql` package puts them (`/usr/lib/postgresql/{version}/bin`). PostgreSQL
//! refuses to run as root: as root, the programs run as the user `postgres`
//! (`runuser`), which owns the data directory.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running server; stopped (and its folder removed) when dropped.
pub struct TestPostgres {
    folder: PathBuf,
    data: PathBuf,
    port: u16,
}

impl TestPostgres {
    /// Starts a server with a data directory of its own, and waits until it accepts
    /// connections.
    pub fn start(name: &str) -> Self {
        let folder = std::env::temp_dir().join(format!(
            "ota-postgres-{name}-{}-{}",
            std::process::id(),
            unique()
        ));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).unwrap();
        own(&folder);
        let data = folder.join("data");
        // No sync of the new files: a test's data outlives no machine crash.
        run(as_postgres(&programs().join("initdb"))
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data));
        let server = Self {
            folder,
            data,
            port: free_port(),
        };
        server.start_again();
        server
    }

    /// The connection parameters of its database `postgres`, as the superuser
    /// `postgres` (trusted on the loopback: no password).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The connection parameters of a new, empty database named `name`.
    /// (On a thread of its own: the client blocks, which a test's tokio runtime
    /// refuses.)
    pub fn database(&self, name: &str) -> String {
        let (url, create) = (self.url(), format!("CREATE DATABASE {name}"));
        std::thread::spawn(move || {
            let mut admin = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
            admin.batch_execute(&create).unwrap();
        })
        .join()
        .unwrap();
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Stops the server at once, as a crash would (`immediate`: no checkpoint).
    pub fn stop(&self) {
        run(as_postgres(&self.bin("pg_ctl"))
            .args(["stop", "-w", "-m", "immediate", "-D"])
            .arg(&self.data));
    }

    /// Starts the server (again) on its data directory and port.
    pub fn start_again(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=200",
            self.port,
            self.folder.display()
        );
        run(as_postgres(&self.bin("pg_ctl"))
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(&self.data)
            .arg("-l")
            .arg(self.folder.join("server.log"))
            .args(["-o", &options]));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn bin(&self, program: &str) -> PathBuf {
        programs().join(program)
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin("pg_ctl"))
            .args(["stop", "-m", "immediate", "-D"])
            .arg(&self.data)
            .output();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// The folder of PostgreSQL's programs.
fn programs() -> &'static Path {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND.get_or_init(|| {
        let on_path = std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file());
        // Debian links some of them into /usr/local/bin: the folder they are in.
        if let Some(dir) = on_path {
            let initdb = std::fs::canonicalize(dir.join("initdb")).unwrap();
            return initdb.parent().unwrap().to_path_buf();
        }
        let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|dirs| {
                dirs.filter_map(|d| Some(d.ok()?.path().join("bin")))
                    .collect()
            })
            .unwrap_or_default();
        debian.retain(|dir| dir.join("initdb").is_file());
        debian.sort_by_key(|dir| {
            let version = dir.parent().and_then(|v| v.file_name());
            version.and_then(|v| v.to_str()?.parse::<u32>().ok())
        });
        debian.pop().expect(
            "PostgreSQL's programs (initdb, pg_ctl) are neither on the PATH nor in \
             /usr/lib/postgresql/*/bin: install PostgreSQL (Debian: apt-get install \
             postgresql), as .ci/run does",
        )
    })
}

/// A command running `program`, as the user `postgres` when this process is root.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Gives `folder` to the user `postgres` when this process is root.
fn own(folder: &Path) {
    if is_root() {
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(folder));
    }
}

fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        let out = Command::new("id").arg("-u").output().expect("id -u");
        String::from_utf8_lossy(&out.stdout).trim() == "0"
    })
}

fn run(command: &mut Command) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port free on the loopback now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
