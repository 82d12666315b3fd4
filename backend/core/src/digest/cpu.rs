//! The digest's CPU work (decode, parse, normalize, group, compress) on threads of its own that
//! run at a lower scheduling priority than request handling.
//!
//! Ingest answers once an envelope is in the spool; the digest can lag a burst and catch up
//! after it (the spool's backlog cap bounds how far). With both on the same cores at the same
//! priority, a burst of requests and the digest split the CPU and ingest accepts fewer envelopes
//! than it could. At nice [`DIGEST_NICE`], the kernel gives runnable request threads most of
//! the CPU while they want it, and the digest everything that is left: when ingest is idle
//! or light (a fixed rate well under the machine's capacity), the digest runs at full speed.
//!
//! Linux keeps the nice value per thread, so only these threads are affected. A thread's nice
//! value cannot be lowered again without privileges, which is why the work does not go to the
//! runtime's shared blocking pool.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

/// Nice value of the digest's threads (0 is the default, 19 the lowest priority). At 10 a
/// thread weighs about a tenth of a default one when both want the same core.
pub const DIGEST_NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Pool {
    jobs: mpsc::Sender<Job>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        for index in 0..threads {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("digest-cpu-{index}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a digest thread");
            }
        }
        Pool { jobs }
    })
}

/// Lowers the calling thread's priority to [`DIGEST_NICE`]; on failure (a sandbox refusing
/// `setpriority`) the thread keeps the default priority, which is only slower under load.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let thread = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(thread), DIGEST_NICE) {
            tracing::warn!(error = %e, "cannot lower the digest threads' priority");
        }
    }
}

/// Runs `work` on a digest thread and returns its result. A panic in `work` is an error here,
/// not a crash of the thread pool.
pub async fn run<T, F>(work: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        let _ = done.send(outcome);
    });
    pool()
        .jobs
        .send(job)
        .map_err(|_| anyhow::anyhow!("the digest threads are gone"))?;
    match result.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) => anyhow::bail!("the digest's CPU work panicked"),
        Err(_) => anyhow::bail!("a digest thread stopped"),
    }
}

/// The nice value of the calling thread (for tests).
#[cfg(all(test, target_os = "linux"))]
fn current_nice() -> i32 {
    rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("getpriority")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_low_priority_threads_and_panics_are_errors() {
        assert_eq!(run(|| 2 + 2).await.expect("runs"), 4);
        #[cfg(target_os = "linux")]
        {
            let caller = current_nice();
            let digest = run(current_nice).await.expect("runs");
            if caller <= DIGEST_NICE {
                assert_eq!(digest, DIGEST_NICE, "caller at {caller}");
            }
        }
        let panicked = run(|| -> u32 { panic!("boom") }).await;
        assert!(panicked.is_err());
        // The pool survives a panicking job.
        assert_eq!(run(|| "still here").await.expect("runs"), "still here");
    }
}
