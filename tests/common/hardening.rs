//! Helpers for the hardening tests (tests/hostile.rs, stress.rs, crash.rs, hygiene.rs): run
//! the binary with a clean environment and a time limit, copy a ready-made home per case, and
//! snapshot a whole directory tree (bytes, modes, symlinks, directories) to prove that a
//! refused command changed nothing.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::PASSPHRASE;

/// Builds a `Vec<OsString>` from a mix of `&str`, `String`, `&Path`, `PathBuf`, `OsString`…
#[macro_export]
macro_rules! args {
    ($($x:expr),* $(,)?) => {
        vec![$(::std::convert::AsRef::<::std::ffi::OsStr>::as_ref(&$x).to_os_string()),*]
    };
}

/// How long one pkictl command may take before the test calls it a hang.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

pub fn pkictl_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pkictl"))
}

/// The hostile corpus: `testdata/hostile/<name>`.
pub fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join("hostile").join(name)
}

/// The raw bytes of `testdata/hostile/args/<name>.arg` as one argument (may be non-UTF-8).
pub fn corpus_arg(name: &str) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    let bytes =
        fs::read(corpus(&format!("args/{name}.arg"))).unwrap_or_else(|e| panic!("corpus arg {name}: {e}"));
    OsString::from_vec(bytes)
}

/// `testdata/hostile/args/<name>.args`: one argument per line.
pub fn corpus_args(name: &str) -> Vec<OsString> {
    let text = fs::read_to_string(corpus(&format!("args/{name}.args")))
        .unwrap_or_else(|e| panic!("corpus args {name}: {e}"));
    text.lines().map(OsString::from).collect()
}

/// `pkictl [--home HOME]` with nothing inherited that changes its behaviour: no
/// PKICTL_* variables, no RUST_BACKTRACE, stdin not a terminal.
pub fn command(home: Option<&Path>) -> Command {
    let mut cmd = Command::new(pkictl_bin());
    if let Some(home) = home {
        cmd.arg("--home").arg(home);
    }
    for var in [
        "PKICTL_PASSPHRASE",
        "PKICTL_HOME",
        "PKICTL_P12_PASSPHRASE",
        "RUST_BACKTRACE",
        "RUST_LIB_BACKTRACE",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// Waits for a child with a time limit, reading its output on the side (so a full pipe never
/// blocks it). Kills it and panics on a hang.
pub fn wait_with_timeout(mut child: Child, timeout: Duration, what: &str) -> Output {
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {timeout:?} (a hang on hostile input)");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Output { status, stdout: out_reader.join().unwrap(), stderr: err_reader.join().unwrap() }
}

/// Runs `cmd` (stdin fed from `stdin` when given) under the time limit.
pub fn run_command(mut cmd: Command, stdin: Option<&[u8]>, what: &str) -> Output {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn pkictl: {e}"));
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        let data = data.to_vec();
        // A refusing pkictl may exit before reading it all: a broken pipe is fine.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    wait_with_timeout(child, COMMAND_TIMEOUT, what)
}

pub fn describe(args: &[OsString]) -> String {
    args.iter()
        .map(|a| {
            let s = a.to_string_lossy();
            if s.len() > 80 {
                format!(
                    "{}…({} bytes)",
                    &s[..s.char_indices().nth(60).map(|(i, _)| i).unwrap_or(s.len())],
                    s.len()
                )
            } else {
                s.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks the shape of a refusal: the exit code, and a stderr that is one `pkictl: …` line
/// (or clap's `error: …` report), with no panic and no Rust debug dump. Returns stderr.
pub fn assert_refusal(output: &Output, code: i32, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "{what}: expected exit {code}, got {}\nstdout: {}\nstderr: {stderr}",
        output.status,
        String::from_utf8_lossy(&output.stdout)
    );
    if stderr.starts_with("pkictl: ") {
        assert!(
            stderr.ends_with('\n') && stderr.matches('\n').count() == 1,
            "{what}: stderr is not exactly one line:\n{stderr:?}"
        );
    } else {
        assert!(
            stderr.starts_with("error: "),
            "{what}: stderr starts with neither \"pkictl: \" nor clap's \"error: \":\n{stderr:?}"
        );
    }
    assert_no_dump(&stderr, what);
    stderr
}

/// No panic, no backtrace hint, no `Debug` output of a Rust struct (`Os { code: 2, … }`).
pub fn assert_no_dump(text: &str, what: &str) {
    for bad in ["panicked", "RUST_BACKTRACE", "Os { code", "stack backtrace"] {
        assert!(!text.contains(bad), "{what}: output contains {bad:?}:\n{text}");
    }
    if let Some(found) = debug_struct(text) {
        panic!("{what}: output contains a Rust debug dump ({found:?}):\n{text}");
    }
}

/// Finds `Ident { field: ` — the shape of `{:?}` on a struct.
pub fn debug_struct(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(pos) = text[from..].find(" { ") {
        let at = from + pos;
        let before = &text[..at];
        let ident_start =
            before.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map(|i| i + 1).unwrap_or(0);
        let ident = &before[ident_start..];
        let after = &text[at + 3..];
        let field_end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
        if !ident.is_empty()
            && ident.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && field_end > 0
            && after[field_end..].starts_with(": ")
        {
            return Some(
                String::from_utf8_lossy(&bytes[ident_start..(at + 3 + field_end + 1).min(bytes.len())])
                    .into_owned(),
            );
        }
        from = at + 3;
    }
    None
}

// ------------------------------------------------------------------------------------------
// Snapshots
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File { mode: u32, bytes: Vec<u8> },
    Dir { mode: u32 },
    Symlink { target: PathBuf },
    Other { mode: u32 },
}

/// Every file, directory and symlink under `root` with its bytes and permission bits.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
        let mut entries: Vec<_> = match fs::read_dir(dir) {
            Ok(e) => e.map(|e| e.expect("directory entry").path()).collect(),
            Err(e) => panic!("read_dir {}: {e}", dir.display()),
        };
        entries.sort();
        for path in entries {
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let mode = meta.permissions().mode() & 0o7777;
            let kind = meta.file_type();
            if kind.is_symlink() {
                out.insert(rel, Entry::Symlink { target: fs::read_link(&path).expect("readlink") });
            } else if kind.is_dir() {
                out.insert(rel, Entry::Dir { mode });
                walk(root, &path, out);
            } else if kind.is_file() {
                let bytes = fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                out.insert(rel, Entry::File { mode, bytes });
            } else {
                out.insert(rel, Entry::Other { mode });
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Panics with the list of added, removed and changed paths when the snapshots differ.
pub fn assert_unchanged(before: &BTreeMap<PathBuf, Entry>, after: &BTreeMap<PathBuf, Entry>, what: &str) {
    if before == after {
        return;
    }
    let mut lines = Vec::new();
    for (path, entry) in after {
        match before.get(path) {
            None => lines.push(format!("  added    {}", path.display())),
            Some(old) if old != entry => {
                let detail = match (old, entry) {
                    (Entry::File { mode: m1, bytes: b1 }, Entry::File { mode: m2, bytes: b2 }) => {
                        format!("mode {m1:o} -> {m2:o}, {} -> {} bytes", b1.len(), b2.len())
                    }
                    _ => format!("{old:?} -> {entry:?}").chars().take(200).collect(),
                };
                lines.push(format!("  changed  {} ({detail})", path.display()));
            }
            _ => {}
        }
    }
    for path in before.keys().filter(|p| !after.contains_key(*p)) {
        lines.push(format!("  removed  {}", path.display()));
    }
    panic!("{what}: the command changed files although it was refused:\n{}", lines.join("\n"));
}

// ------------------------------------------------------------------------------------------
// Ready-made homes, copied for each case
// ------------------------------------------------------------------------------------------

/// A home made once per test process: root + issuing CA, one valid client certificate
/// ("known.example.com", files in `issued/`) and one revoked one (and so one CRL).
pub struct Template {
    pub dir: PathBuf,
    pub known_serial: String,
    pub revoked_serial: String,
    pub encrypted: bool,
}

fn scratch_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// A fresh directory under the target's tmp dir, removed when dropped.
pub fn scratch(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir_in(scratch_root()).expect("create a scratch directory")
}

fn build_template(encrypted: bool) -> Template {
    // Kept for the life of the test process (statics are never dropped); a later run removes
    // templates left by runs whose process is gone.
    let root = scratch_root();
    if let Ok(entries) = fs::read_dir(&root) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("hardening-template-").and_then(|r| r.split('-').next()) {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
    }
    let dir = root.join(format!(
        "hardening-template-{}-{}",
        std::process::id(),
        if encrypted { "enc" } else { "plain" }
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let home = dir.join("home");
    let issued = dir.join("issued");
    let run = |args: Vec<OsString>| -> Output {
        let mut cmd = command(Some(&home));
        cmd.args(&args);
        if encrypted {
            cmd.env("PKICTL_PASSPHRASE", PASSPHRASE);
        }
        let out = run_command(cmd, None, "template");
        assert!(
            out.status.success(),
            "template: pkictl {} failed: {}",
            describe(&args),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let mut init = args!["init", "--name", "Hostile Root CA"];
    if !encrypted {
        init.push("--no-passphrase".into());
    }
    run(init);
    let serial_of = |out: &Output| -> String {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("issue --json");
        v["serial"].as_str().expect("serial").to_string()
    };
    let known = run(args!["--json", "issue", "client", "known.example.com", "--out", issued]);
    let revoked = run(args!["--json", "issue", "client", "revoked.example.com", "--out", issued]);
    let known_serial = serial_of(&known);
    let revoked_serial = serial_of(&revoked);
    run(args!["revoke", revoked_serial, "--reason", "superseded"]);
    Template { dir, known_serial, revoked_serial, encrypted }
}

pub fn plain_template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| build_template(false))
}

pub fn encrypted_template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| build_template(true))
}

/// Copies a tree, keeping permission bits and symlinks.
pub fn copy_tree(from: &Path, to: &Path) {
    let meta = fs::symlink_metadata(from).unwrap();
    if meta.file_type().is_symlink() {
        symlink(fs::read_link(from).unwrap(), to).unwrap();
    } else if meta.is_dir() {
        fs::create_dir_all(to).unwrap();
        for e in fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy_tree(&e.path(), &to.join(e.file_name()));
        }
        fs::set_permissions(to, meta.permissions()).unwrap();
    } else {
        fs::copy(from, to).unwrap();
        fs::set_permissions(to, meta.permissions()).unwrap();
    }
}

/// One hostile case: a private copy of a template home (`home`), its issued files
/// (`issued`), a place for inputs (`inputs`) and an output directory that does not exist
/// yet (`out`). Everything lives under `root`, which is what the snapshots cover.
pub struct Case {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub home: PathBuf,
    pub issued: PathBuf,
    pub inputs: PathBuf,
    pub out: PathBuf,
    pub template: &'static Template,
    env: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
}

impl Case {
    pub fn plain() -> Case {
        Case::from_template(plain_template())
    }

    /// The CA keys are encrypted with `PASSPHRASE` (which is NOT set in the environment).
    pub fn encrypted() -> Case {
        Case::from_template(encrypted_template())
    }

    fn from_template(template: &'static Template) -> Case {
        let dir = scratch("hostile-");
        let root = dir.path().to_path_buf();
        copy_tree(&template.dir.join("home"), &root.join("home"));
        copy_tree(&template.dir.join("issued"), &root.join("issued"));
        fs::create_dir(root.join("inputs")).unwrap();
        Case {
            home: root.join("home"),
            issued: root.join("issued"),
            inputs: root.join("inputs"),
            out: root.join("out"),
            root,
            _dir: dir,
            template,
            env: Vec::new(),
            stdin: None,
        }
    }

    pub fn known_serial(&self) -> &str {
        &self.template.known_serial
    }

    pub fn revoked_serial(&self) -> &str {
        &self.template.revoked_serial
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Case {
        self.env.push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    pub fn stdin(&mut self, data: &[u8]) -> &mut Case {
        self.stdin = Some(data.to_vec());
        self
    }

    /// Copies `testdata/hostile/<name>` into `inputs/` (mode 0644) and returns its path.
    pub fn input(&self, name: &str) -> PathBuf {
        self.input_with_mode(name, 0o644)
    }

    /// Like `input`, mode 0600 (key and passphrase files, which pkictl wants private).
    pub fn input_private(&self, name: &str) -> PathBuf {
        self.input_with_mode(name, 0o600)
    }

    fn input_with_mode(&self, name: &str, mode: u32) -> PathBuf {
        let bytes = fs::read(corpus(name)).unwrap_or_else(|e| panic!("corpus file {name}: {e}"));
        let file_name = Path::new(name).file_name().unwrap();
        self.write_input(file_name.to_str().unwrap(), &bytes, mode)
    }

    pub fn write_input(&self, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
        let path = self.inputs.join(name);
        fs::write(&path, bytes).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    /// Runs `pkictl --home <home> ARGS`.
    pub fn run(&self, args: &[OsString]) -> Output {
        self.run_in(Some(&self.home), args)
    }

    pub fn run_in(&self, home: Option<&Path>, args: &[OsString]) -> Output {
        let mut cmd = command(home);
        cmd.args(args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        run_command(cmd, self.stdin.as_deref(), &describe(args))
    }

    /// Runs the command and asserts a clean refusal with `code` that changed nothing under
    /// `root` (the home with its ledger.db and any -wal, the issued files, the inputs, and
    /// the output directory, which must not even be created).
    pub fn refuses(&self, code: i32, args: &[OsString]) -> String {
        self.refuses_in(Some(&self.home.clone()), code, args)
    }

    pub fn refuses_in(&self, home: Option<&Path>, code: i32, args: &[OsString]) -> String {
        let before = snapshot(&self.root);
        let output = self.run_in(home, args);
        let what = format!("pkictl {}", describe(args));
        let stderr = assert_refusal(&output, code, &what);
        let after = snapshot(&self.root);
        assert_unchanged(&before, &after, &what);
        stderr
    }

    /// A "no" verdict (verify, doctor): exit 1, the reason on stdout, nothing changed.
    pub fn says_no(&self, args: &[OsString], marker: &str) -> String {
        let before = snapshot(&self.root);
        let output = self.run(args);
        let what = format!("pkictl {}", describe(args));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(
            output.status.code(),
            Some(1),
            "{what}: expected the verdict exit 1\nstdout: {stdout}\nstderr: {stderr}"
        );
        assert!(stdout.contains(marker), "{what}: stdout lacks {marker:?}:\n{stdout}");
        assert!(
            stderr.is_empty() || (stderr.starts_with("pkictl: ") && stderr.matches('\n').count() == 1),
            "{what}: unexpected stderr:\n{stderr}"
        );
        assert_no_dump(&stdout, &what);
        assert_no_dump(&stderr, &what);
        assert_unchanged(&before, &snapshot(&self.root), &what);
        stdout
    }

    /// Runs the command and asserts it succeeds (positive controls).
    pub fn succeeds(&self, args: &[OsString]) -> Output {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "pkictl {} failed: {}",
            describe(args),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

/// The hex a `sqlite3`-free check can grep for: lower-case, no separators.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
