//! Keeping secrets out of core dumps: a process that holds a CA passphrase or key must not
//! write its memory to disk when it crashes or is sent SIGQUIT/SIGABRT.

/// Makes the process non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`: no core dump even through a
/// `core_pattern` pipe, and no ptrace attach by other users) and sets `RLIMIT_CORE` to 0.
/// Call it once, before any secret is read.
#[cfg(target_os = "linux")]
pub fn forbid_core_dumps() -> std::io::Result<()> {
    use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};
    setrlimit(Resource::Core, Rlimit { current: Some(0), maximum: Some(0) })?;
    set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    Ok(())
}

/// Elsewhere only the core size limit is available.
#[cfg(not(target_os = "linux"))]
pub fn forbid_core_dumps() -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    setrlimit(Resource::Core, Rlimit { current: Some(0), maximum: Some(0) })?;
    Ok(())
}
