//! Cases on the real runtime run in worker processes, so a hang or an abort inside the runtime
//! costs one case, not the run: the parent sends cases as JSON lines, the worker answers each
//! with a [`CaseRecord`], and the parent kills and restarts a worker that dies or stalls.
//!
//! One worker holds one device: tt-metal keeps one mock cluster per process and L1_SMALL is
//! fixed at device open, so workers are keyed by (board, L1_SMALL bytes).
//!
//! Protocol, one JSON object per line:
//! - worker → parent, once: `{"ready": {"runtime_version": ...}}` or `{"fatal": "..."}`;
//! - parent → worker: `{"case": CaseSpec, "measure": bool, "canary": bool}`;
//! - worker → parent: `{"record": CaseRecord}` for each case, in order;
//! - with `"calibrate": {"measure_slow": bool}` in the request, the worker answers
//!   `{"calibration": Calibration}` instead ([`crate::calibration`]).

use crate::calibration::{calibrate_case, Calibration};
use crate::record::{CaseRecord, Class};
use crate::runner::{blank_record, run_record, RunOptions};
use memmodel::case::CaseSpec;
use memmodel::Case;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The environment variable that makes a binary act as a worker (its value: `board:l1_small`).
pub const WORKER_ENV: &str = "TTNN_OOM_WORKER";

/// Test-only fault injection: `hang:<case id>` or `abort:<case id>` makes the worker hang or
/// abort on that case, to prove the parent survives both.
pub const FAULT_ENV: &str = "TTNN_OOM_WORKER_FAULT";

#[derive(Debug, Serialize, Deserialize)]
struct Request {
    case: CaseSpec,
    measure: bool,
    canary: bool,
    execute: bool,
    /// Calibrate the case instead of running it as a suite case.
    #[serde(default)]
    calibrate: Option<CalibrateRequest>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct CalibrateRequest {
    measure_slow: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reply {
    Ready { runtime_version: String },
    Fatal(String),
    Record(Box<CaseRecord>),
    Calibration(Box<Calibration>),
}

/// What a worker is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerKey {
    pub device: &'static str,
    pub l1_small_size: u64,
}

impl WorkerKey {
    /// The worker a case needs.
    pub fn of(case: &Case) -> WorkerKey {
        let l1_small_size = case.signature().map(|s| s.l1_small_bytes).unwrap_or(0);
        WorkerKey {
            device: case.device.name,
            l1_small_size,
        }
    }

    fn env_value(&self) -> String {
        format!("{}:{}", self.device, self.l1_small_size)
    }

    fn parse(value: &str) -> Result<WorkerKey, String> {
        let (device, l1) = value
            .split_once(':')
            .ok_or_else(|| format!("{WORKER_ENV}={value}: expected board:l1_small"))?;
        let spec = memmodel::DeviceSpec::by_name(device)?;
        let l1_small_size = l1
            .parse::<u64>()
            .map_err(|e| format!("{WORKER_ENV}={value}: {e}"))?;
        Ok(WorkerKey {
            device: spec.name,
            l1_small_size,
        })
    }
}

/// If this process was started as a worker, serve requests on stdin/stdout until stdin closes
/// and return true; otherwise return false at once. Call it first thing in `main`.
pub fn serve_if_worker() -> bool {
    let Ok(value) = std::env::var(WORKER_ENV) else {
        return false;
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut send = |reply: &Reply| -> bool {
        let line = serde_json::to_string(reply).expect("replies serialize");
        writeln!(out, "{line}").and_then(|_| out.flush()).is_ok()
    };
    let key = match WorkerKey::parse(&value) {
        Ok(k) => k,
        Err(e) => {
            send(&Reply::Fatal(e));
            return true;
        }
    };
    let spec = memmodel::DeviceSpec::by_name(key.device).expect("parsed above");
    let opened = ttnn::metal::Runtime::discover().and_then(|rt| {
        let version = rt
            .version()
            .unwrap_or_else(|_| ttnn::metal::TTNN_VERSION.to_string());
        let device = ttnn::metal::Device::open(
            &rt,
            spec,
            ttnn::metal::DeviceOptions::with_l1_small(key.l1_small_size),
        )?;
        Ok((rt, device, version))
    });
    let (_runtime, device, version) = match opened {
        Ok(x) => x,
        Err(e) => {
            send(&Reply::Fatal(e.to_string()));
            return true;
        }
    };
    let runtime_version = format!("ttnn {version} (mock {})", spec.name);
    if !send(&Reply::Ready {
        runtime_version: runtime_version.clone(),
    }) {
        return true;
    }
    let fault = std::env::var(FAULT_ENV).ok();
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let request: Request = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                send(&Reply::Fatal(format!("bad request: {e}")));
                break;
            }
        };
        let opts = RunOptions {
            backend: "metal".into(),
            runtime_version: runtime_version.clone(),
            measure: request.measure,
            canary: request.canary,
            execute: request.execute,
        };
        if let Some(cal) = request.calibrate {
            let reply = match request.case.to_case() {
                Ok(case) => calibrate_case(&device, &case, cal.measure_slow),
                Err(e) => Calibration {
                    id: request.case.op.clone(),
                    device: request.case.device.clone(),
                    l1_small: key.l1_small_size,
                    outcome: "error".into(),
                    failed_at: None,
                    message: e,
                    held_by_program_cache: Default::default(),
                    peaks: None,
                    capture_error: None,
                    trace: Vec::new(),
                },
            };
            if !send(&Reply::Calibration(Box::new(reply))) {
                break;
            }
            continue;
        }
        let record = match request.case.to_case() {
            Ok(case) => {
                if let Some(f) = &fault {
                    let id = case.id();
                    if f.strip_prefix("hang:") == Some(id.as_str()) {
                        loop {
                            std::thread::sleep(Duration::from_secs(3600));
                        }
                    }
                    if f.strip_prefix("abort:") == Some(id.as_str()) {
                        std::process::abort();
                    }
                }
                run_record(&device, &case, &opts)
            }
            Err(e) => {
                let mut r = fallback_record(&request.case, &opts);
                r.message = e;
                r
            }
        };
        if !send(&Reply::Record(Box::new(record))) {
            break;
        }
    }
    if let Err((_, e)) = device.close() {
        eprintln!("worker: closing the device failed: {e}");
    }
    true
}

fn fallback_record(spec: &CaseSpec, opts: &RunOptions) -> CaseRecord {
    match spec.to_case() {
        Ok(case) => blank_record(&case, opts),
        Err(_) => CaseRecord {
            id: format!("{}/{:?}", spec.op, spec.model_inputs),
            op: spec.op.clone(),
            ttnn: String::new(),
            shape_set: spec.shape_set.clone(),
            shapes: spec
                .model_inputs
                .iter()
                .map(|s| s.dims().to_vec())
                .collect(),
            device_shape: Vec::new(),
            device_layout: spec.device_layout.to_string(),
            dtype: spec.dtype.to_string(),
            layout: spec.layout.to_string(),
            memory: spec
                .sharding
                .map_or(spec.output_memory.name(), |s| s.memory_name())
                .to_string(),
            device: spec.device.clone(),
            params: spec.params.compact(),
            backend: opts.backend.clone(),
            runtime_version: opts.runtime_version.clone(),
            class: Class::Error,
            message: String::new(),
            expect: spec.expect.name().to_string(),
            buffer_type: None,
            total_bytes: 0,
            banks: 0,
            per_bank_bytes: 0,
            bank_bytes: 0,
            bank_allocated_bytes: 0,
            logical_bytes: 0,
            allocated_bytes: 0,
            predicted: "invalid".into(),
            peak_cb_per_core: None,
            peak_l1_per_core: None,
            case_allocated_bytes: 0,
            overhead_factor: 0.0,
            captured_buffers: Vec::new(),
            measure_note: None,
            fix: None,
            leaked_bytes: 0,
            canary_ok: None,
            elapsed_ms: 0.0,
        },
    }
}

/// How to start a worker: a command (usually the current executable) that calls
/// [`serve_if_worker`] first thing.
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    pub program: std::path::PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl WorkerCommand {
    /// The current executable, with `args`.
    pub fn current_exe(args: &[&str]) -> std::io::Result<WorkerCommand> {
        Ok(WorkerCommand {
            program: std::env::current_exe()?,
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
        })
    }
}

/// A running worker process.
pub struct Worker {
    key: WorkerKey,
    child: Child,
    /// `None` once [`Worker::finish`] closed it.
    stdin: Option<ChildStdin>,
    replies: Receiver<Result<Reply, String>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    pub runtime_version: String,
}

/// Why a worker could not give a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerFailure {
    /// The process died; the text says how, with the last lines it wrote to stderr.
    Crashed(String),
    TimedOut(Duration),
    /// The worker could not start (runtime unavailable, bad board, ...).
    Fatal(String),
}

const STDERR_TAIL_LINES: usize = 20;

static CANCELLED: AtomicBool = AtomicBool::new(false);

/// Cancels every worker wait in this process, for good: waits return at once (their workers
/// killed, the case a `crashed` "interrupted" record) and no new worker starts. Safe to call
/// from a signal handler's thread (`cargo xtask oom` does on SIGINT / SIGTERM).
pub fn cancel_all() {
    CANCELLED.store(true, Ordering::SeqCst);
}

/// Whether [`cancel_all`] was called.
pub fn cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

/// What waiting for a reply gave.
enum Wait {
    Reply(Result<Reply, String>),
    Timeout,
    Disconnected,
    Cancelled,
}

/// Waits up to `timeout` for a reply, waking every 50 ms to notice [`cancel_all`].
fn wait_reply(replies: &Receiver<Result<Reply, String>>, timeout: Duration) -> Wait {
    let deadline = Instant::now() + timeout;
    loop {
        if cancelled() {
            return Wait::Cancelled;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Wait::Timeout;
        }
        match replies.recv_timeout(left.min(Duration::from_millis(50))) {
            Ok(r) => return Wait::Reply(r),
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Wait::Disconnected,
        }
    }
}

const INTERRUPTED: &str = "interrupted (SIGINT/SIGTERM): the worker was killed";

impl Worker {
    /// Start a worker for `key` and wait (up to `startup`) until its device is open.
    pub fn spawn(
        command: &WorkerCommand,
        key: &WorkerKey,
        startup: Duration,
    ) -> Result<Worker, WorkerFailure> {
        if cancelled() {
            return Err(WorkerFailure::Fatal(INTERRUPTED.into()));
        }
        let mut cmd = Command::new(&command.program);
        cmd.args(&command.args)
            .envs(command.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(WORKER_ENV, key.env_value())
            .env(
                "TT_LOGGER_LEVEL",
                std::env::var("TT_LOGGER_LEVEL").unwrap_or_else(|_| "error".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            WorkerFailure::Fatal(format!("starting {}: {e}", command.program.display()))
        })?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Only protocol lines start with '{'; anything else the runtime prints is noise.
                if !line.starts_with('{') {
                    continue;
                }
                let reply = serde_json::from_str::<Reply>(&line)
                    .map_err(|e| format!("unreadable reply `{line}`: {e}"));
                if tx.send(reply).is_err() {
                    break;
                }
            }
        });
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail = Arc::clone(&stderr_tail);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                if t.len() == STDERR_TAIL_LINES {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
        let mut worker = Worker {
            key: key.clone(),
            child,
            stdin: Some(stdin),
            replies,
            stderr_tail,
            runtime_version: String::new(),
        };
        match wait_reply(&worker.replies, startup) {
            Wait::Reply(Ok(Reply::Ready { runtime_version })) => {
                worker.runtime_version = runtime_version;
                Ok(worker)
            }
            Wait::Reply(Ok(Reply::Fatal(msg))) => {
                worker.kill();
                Err(WorkerFailure::Fatal(msg))
            }
            Wait::Reply(Ok(Reply::Record(_) | Reply::Calibration(_))) | Wait::Reply(Err(_)) => {
                worker.kill();
                Err(WorkerFailure::Fatal(
                    "the worker did not start with a ready line".into(),
                ))
            }
            Wait::Cancelled => {
                worker.kill();
                Err(WorkerFailure::Fatal(INTERRUPTED.into()))
            }
            Wait::Timeout => {
                worker.kill();
                Err(WorkerFailure::Fatal(format!(
                    "the worker did not open {} within {startup:?}",
                    key.device
                )))
            }
            Wait::Disconnected => {
                let why = worker.death_note();
                Err(WorkerFailure::Fatal(format!(
                    "the worker exited while starting: {why}"
                )))
            }
        }
    }

    pub fn key(&self) -> &WorkerKey {
        &self.key
    }

    /// Run one case; on `Err` the worker is dead (killed after a timeout) and must be replaced.
    pub fn run(
        &mut self,
        case: &Case,
        opts: &RunOptions,
        timeout: Duration,
    ) -> Result<CaseRecord, WorkerFailure> {
        let request = Request {
            case: case.to_spec(),
            measure: opts.measure,
            canary: opts.canary,
            execute: opts.execute,
            calibrate: None,
        };
        match self.exchange(&request, timeout)? {
            Reply::Record(record) => Ok(*record),
            _ => {
                self.kill();
                Err(WorkerFailure::Crashed(
                    "the worker broke the protocol".into(),
                ))
            }
        }
    }

    /// Calibrate one case ([`calibrate_case`]); on `Err` the worker is dead and must be
    /// replaced.
    pub fn calibrate(
        &mut self,
        case: &Case,
        measure_slow: bool,
        timeout: Duration,
    ) -> Result<Calibration, WorkerFailure> {
        let request = Request {
            case: case.to_spec(),
            measure: false,
            canary: false,
            execute: true,
            calibrate: Some(CalibrateRequest { measure_slow }),
        };
        match self.exchange(&request, timeout)? {
            Reply::Calibration(c) => Ok(*c),
            _ => {
                self.kill();
                Err(WorkerFailure::Crashed(
                    "the worker broke the protocol".into(),
                ))
            }
        }
    }

    /// Sends a request and waits for its answer (a record or a calibration).
    fn exchange(&mut self, request: &Request, timeout: Duration) -> Result<Reply, WorkerFailure> {
        let line = serde_json::to_string(&request).expect("requests serialize");
        let sent = match self.stdin.as_mut() {
            Some(stdin) => writeln!(stdin, "{line}")
                .and_then(|_| stdin.flush())
                .is_ok(),
            None => false,
        };
        if !sent {
            return Err(WorkerFailure::Crashed(self.death_note()));
        }
        match wait_reply(&self.replies, timeout) {
            Wait::Reply(Ok(reply @ (Reply::Record(_) | Reply::Calibration(_)))) => Ok(reply),
            Wait::Reply(Ok(Reply::Fatal(msg))) => {
                self.kill();
                Err(WorkerFailure::Crashed(msg))
            }
            Wait::Reply(Ok(Reply::Ready { .. })) | Wait::Reply(Err(_)) => {
                self.kill();
                Err(WorkerFailure::Crashed(
                    "the worker broke the protocol".into(),
                ))
            }
            Wait::Cancelled => {
                self.kill();
                Err(WorkerFailure::Crashed(INTERRUPTED.into()))
            }
            Wait::Timeout => {
                self.kill();
                Err(WorkerFailure::TimedOut(timeout))
            }
            Wait::Disconnected => Err(WorkerFailure::Crashed(self.death_note())),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// How the process ended, with the tail of its stderr.
    fn death_note(&mut self) -> String {
        let status = match self.child.wait() {
            Ok(s) => s.to_string(),
            Err(e) => format!("unknown status ({e})"),
        };
        // Give the stderr reader a moment to drain what the process wrote last.
        std::thread::sleep(Duration::from_millis(50));
        let tail = self.stderr_tail.lock().unwrap_or_else(|p| p.into_inner());
        let last: Vec<&str> = tail
            .iter()
            .map(String::as_str)
            .filter(|l| !l.trim().is_empty())
            .collect();
        if last.is_empty() {
            format!("worker process ended: {status}")
        } else {
            format!(
                "worker process ended: {status}; last stderr lines:\n{}",
                last.join("\n")
            )
        }
    }

    /// Close stdin and wait for the worker to close its device and exit (killed after 5 s).
    pub fn finish(mut self) {
        drop(self.stdin.take());
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A record for a case whose worker died or stalled.
pub fn failure_record(case: &Case, failure: &WorkerFailure, opts: &RunOptions) -> CaseRecord {
    let mut record = blank_record(case, opts);
    match failure {
        WorkerFailure::Crashed(msg) => {
            record.class = Class::Crashed;
            record.message = msg.clone();
        }
        WorkerFailure::TimedOut(after) => {
            record.class = Class::TimedOut;
            record.message = format!("no answer within {after:?}; the worker was killed");
        }
        WorkerFailure::Fatal(msg) => {
            record.class = Class::Error;
            record.message = msg.clone();
        }
    }
    record
}

enum Slot {
    Empty,
    Ready(Worker),
    /// Starting failed for a reason a restart will not fix (no runtime, bad board).
    Fatal(String),
}

/// Workers by key, started on first use and restarted after a crash or a timeout. Cases of
/// different keys run in parallel when called from several threads; cases of one key queue.
pub struct WorkerPool {
    command: WorkerCommand,
    slots: Mutex<std::collections::BTreeMap<WorkerKey, Arc<Mutex<Slot>>>>,
    startup: Duration,
    case_timeout: Duration,
}

impl WorkerPool {
    pub fn new(command: WorkerCommand, startup: Duration, case_timeout: Duration) -> WorkerPool {
        WorkerPool {
            command,
            slots: Mutex::new(Default::default()),
            startup,
            case_timeout,
        }
    }

    /// Run a case in its worker. Never panics and never fails: a worker that dies, stalls or
    /// cannot start turns into a `crashed`, `timed_out` or `error` record.
    pub fn run(&self, case: &Case, opts: &RunOptions) -> CaseRecord {
        self.with_worker(
            case,
            |worker, timeout| {
                let opts = RunOptions {
                    runtime_version: worker.runtime_version.clone(),
                    ..opts.clone()
                };
                worker
                    .run(case, &opts, timeout)
                    .map_err(|f| (f, Some(opts)))
            },
            |failure, patched| failure_record(case, failure, patched.as_ref().unwrap_or(opts)),
        )
    }

    /// Calibrate a case in its worker ([`calibrate_case`]); a worker that dies, stalls or cannot
    /// start gives an `error` calibration saying so. Also returns the worker's runtime version.
    pub fn calibrate(&self, case: &Case, measure_slow: bool) -> (Calibration, String) {
        let mut version = String::new();
        let c = self.with_worker(
            case,
            |worker, timeout| {
                version = worker.runtime_version.clone();
                worker
                    .calibrate(case, measure_slow, timeout)
                    .map_err(|f| (f, None::<()>))
            },
            |failure, _| Calibration {
                id: case.id(),
                device: case.device.name.to_string(),
                l1_small: WorkerKey::of(case).l1_small_size,
                outcome: "error".into(),
                failed_at: None,
                message: match failure {
                    WorkerFailure::Crashed(m) | WorkerFailure::Fatal(m) => m.clone(),
                    WorkerFailure::TimedOut(after) => {
                        format!("no answer within {after:?}; the worker was killed")
                    }
                },
                held_by_program_cache: Default::default(),
                peaks: None,
                capture_error: None,
                trace: Vec::new(),
            },
        );
        (c, version)
    }

    /// Runs `f` with the case's worker (started if needed); a worker that fails is dropped and
    /// `on_failure` makes the answer.
    fn with_worker<T, X>(
        &self,
        case: &Case,
        f: impl FnOnce(&mut Worker, Duration) -> Result<T, (WorkerFailure, Option<X>)>,
        on_failure: impl FnOnce(&WorkerFailure, Option<X>) -> T,
    ) -> T {
        let key = WorkerKey::of(case);
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(
                slots
                    .entry(key.clone())
                    .or_insert_with(|| Arc::new(Mutex::new(Slot::Empty))),
            )
        };
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(*slot, Slot::Empty) {
            *slot = match Worker::spawn(&self.command, &key, self.startup) {
                Ok(w) => Slot::Ready(w),
                Err(WorkerFailure::Fatal(msg)) => Slot::Fatal(msg),
                Err(other) => return on_failure(&other, None),
            };
        }
        let worker = match &mut *slot {
            Slot::Ready(w) => w,
            Slot::Fatal(msg) => return on_failure(&WorkerFailure::Fatal(msg.clone()), None),
            Slot::Empty => unreachable!("filled above"),
        };
        match f(worker, self.case_timeout) {
            Ok(value) => value,
            Err((failure, extra)) => {
                *slot = Slot::Empty;
                on_failure(&failure, extra)
            }
        }
    }

    /// Close every worker's device and wait for them to exit. The pool stays usable: a later
    /// case starts a fresh worker.
    pub fn shutdown(&self) {
        let slots = std::mem::take(&mut *self.slots.lock().unwrap_or_else(|p| p.into_inner()));
        for (_, slot) in slots {
            let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
            if let Slot::Ready(w) = std::mem::replace(&mut *slot, Slot::Empty) {
                w.finish();
            }
        }
    }
}

impl crate::runner::CaseRunner for WorkerPool {
    fn run(&self, case: &Case, opts: &RunOptions) -> CaseRecord {
        WorkerPool::run(self, case, opts)
    }
}
