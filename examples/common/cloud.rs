//! The cloud side: one upgrade of one gateway through the runtime's `Cloud`, with live
//! progress, started or taken up again from a saved state.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use dji_cloud_ota::tracker::{Change, Ending, Ignored, TaskKey, Update};
use dji_cloud_ota::{Device, Serial, now_millis};
use dji_cloud_ota_mqtt::{Cloud, CloudConfig, CloudEvent, CloudEvents, CloudStatus, FileStore};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::time::{Instant, sleep_until};

use super::mqtt::ConnArgs;
use super::{EXIT_BROKER, EXIT_OK, EXIT_TASK_FAILED, EXIT_TIMED_OUT, EXIT_USAGE, TrackerArgs};

/// What one run of the cloud does.
pub struct Plan {
    pub gateway: Serial,
    pub devices: Vec<Device>,
    /// Where the tracker's state is kept, if anywhere.
    pub state: Option<PathBuf>,
}

/// Upgrades the plan's devices, or follows the saved task to its end; the process's
/// exit status.
pub async fn run(conn: &ConnArgs, plan: Plan, args: &TrackerArgs) -> u8 {
    // With a saved state, the session must outlive the process: a stable client id.
    let stable = plan
        .state
        .as_ref()
        .map(|_| format!("ota-cloud-{}", plan.gateway));
    let mqtt = match conn.config("ota-cloud", stable) {
        Ok(mqtt) => mqtt,
        Err(e) => {
            eprintln!("ota-cloud: {e}");
            return EXIT_USAGE;
        }
    };
    println!("connecting to {}", mqtt.describe());
    let config = CloudConfig::new(mqtt, args.config());
    let spawned = match &plan.state {
        Some(path) => Cloud::spawn(config, FileStore::new(path)),
        None => Cloud::spawn_without_store(config),
    };
    let (cloud, mut events) = match spawned {
        Ok(spawned) => spawned,
        Err(e) => {
            eprintln!("ota-cloud: {e}");
            return EXIT_USAGE;
        }
    };
    if let Err(reason) = connected(&mut events).await {
        eprintln!("ota-cloud: {reason}");
        return EXIT_BROKER;
    }
    let Ok(status) = cloud.status().await else {
        return EXIT_BROKER;
    };
    let gateway = &plan.gateway;
    let task = if let Some((task, state)) = status.tasks.iter().find(|(k, _)| &k.gateway == gateway)
    {
        println!(
            "taking up task bid {} of {gateway} where it was: {}",
            task.bid,
            match (&state.step, state.percent) {
                (Some(step), Some(percent)) => format!("{step} {percent}%"),
                _ if state.accepted => "accepted".into(),
                _ => "waiting for the reply".into(),
            }
        );
        task.clone()
    } else if let Some((task, ending)) = status
        .ended
        .iter()
        .rev()
        .find(|(k, _)| &k.gateway == gateway)
    {
        let (code, reason) = ended(ending);
        println!(
            "task bid {} of {gateway} had already ended: {reason}",
            task.bid
        );
        println!("{}", summary(code, &status));
        cloud.close().await;
        return code;
    } else {
        match cloud.start(gateway.clone(), plan.devices).await {
            Ok(started) => {
                let request = &started.request;
                println!(
                    "upgrading {gateway}: task bid {}, ota_create tid {}",
                    request.bid, request.tid
                );
                started.task
            }
            Err(e) => {
                eprintln!("ota-cloud: {e}");
                return EXIT_USAGE;
            }
        }
    };
    let (code, reason) = follow(&cloud, &mut events, &task, args).await;
    let mut display = Display::new();
    display.line(&reason);
    if let Ok(status) = cloud.status().await {
        println!("{}", summary(code, &status));
    }
    cloud.close().await;
    code
}

/// Waits until connected and subscribed, or the connection fails for good.
async fn connected(events: &mut CloudEvents) -> Result<(), String> {
    while let Some(event) = events.next().await {
        match event {
            CloudEvent::Connected { .. } => return Ok(()),
            CloudEvent::Failed { reason } => return Err(reason),
            CloudEvent::Disconnected { reason } => {
                eprintln!("connection failed: {reason}; retrying");
            }
            _ => {}
        }
    }
    Err("the connection closed".into())
}

/// Follows `task` to its end; the exit status and why.
async fn follow(
    cloud: &Cloud,
    events: &mut CloudEvents,
    task: &TaskKey,
    args: &TrackerArgs,
) -> (u8, String) {
    let mut display = Display::new();
    let give_up = Instant::now() + args.timeout();
    let mut ending: Option<(u8, String, Instant)> = None;
    loop {
        let stop = ending.as_ref().map_or(give_up, |(.., until)| *until);
        tokio::select! {
            event = events.next() => match event {
                Some(CloudEvent::Update(update)) => {
                    if let Some((code, reason)) = report(&update, task, &mut display) {
                        let linger = Instant::now() + Duration::from_millis(args.linger_ms);
                        ending.get_or_insert((code, reason, linger));
                    }
                }
                Some(CloudEvent::Dropped { count, topic, reason }) => display.line(&format!(
                    "dropped {count} message(s) that did not decode; the last on {topic}: {reason}"
                )),
                Some(CloudEvent::Disconnected { reason }) => {
                    display.line(&format!("connection lost: {reason}; connecting again"));
                }
                Some(CloudEvent::Connected { session_present }) => display.line(&format!(
                    "connected again ({})",
                    if session_present { "the broker kept the session" } else { "a new session" }
                )),
                Some(CloudEvent::StoreFailed { reason }) => {
                    display.line(&format!("cannot save the state: {reason}"));
                }
                Some(CloudEvent::Failed { reason }) => return (EXIT_BROKER, reason),
                Some(_) => {}
                None => return (EXIT_BROKER, "the connection closed".into()),
            },
            () = sleep_until(stop) => break,
        }
    }
    display.finish();
    match ending {
        Some((code, reason, _)) => (code, reason),
        None => {
            // Recorded as given up, so that a run on the same state says so.
            let _ = cloud.forget(task.clone()).await;
            let secs = args.timeout().as_secs();
            (
                EXIT_TIMED_OUT,
                format!("gave up on task {task} after {secs} s without an end"),
            )
        }
    }
}

/// Shows one update; for the end of `task`, the exit status and why.
fn report(update: &Update, task: &TaskKey, display: &mut Display) -> Option<(u8, String)> {
    if &update.task != task {
        if let Change::Ignored(Ignored::Unknown { tid }) = &update.change {
            display.note(&format!("message {tid} of no task of ours"));
        }
        return None;
    }
    match &update.change {
        Change::Retried { attempt, tid } => display.line(&format!(
            "no reply yet: sent ota_create again (attempt {attempt}, tid {tid})"
        )),
        Change::Accepted { status, by_event } => {
            let how = if *by_event {
                "its first event"
            } else {
                "its reply"
            };
            let status = status.as_ref().map_or("", |s| s.as_str());
            display.line(&format!("the dock took the task ({how}) {status}"));
        }
        Change::Progress {
            status,
            step,
            percent,
            rate,
            ..
        } => display.progress(
            status.as_str(),
            step.as_ref().map(|s| s.as_str()),
            *percent,
            *rate,
        ),
        Change::Finished { status, result } => {
            let code = if status.is_success() {
                EXIT_OK
            } else {
                EXIT_TASK_FAILED
            };
            return Some((code, format!("upgrade ended: {status}, result {result}")));
        }
        Change::Refused { result, status } => {
            let status = status.as_ref().map_or(String::new(), |s| format!(", {s}"));
            return Some((
                EXIT_TASK_FAILED,
                format!("the dock refused the upgrade: result {result}{status}"),
            ));
        }
        Change::NoReply { attempts } => {
            return Some((
                EXIT_TIMED_OUT,
                format!("no reply to ota_create after {attempts} attempts"),
            ));
        }
        Change::Silent { last_heard_ms } => {
            let quiet = now_millis().saturating_sub(*last_heard_ms);
            return Some((
                EXIT_TIMED_OUT,
                format!("the dock went silent: nothing of task {task} for {quiet} ms"),
            ));
        }
        Change::Confirmed { versions } => {
            let versions: Vec<String> =
                versions.iter().map(|(sn, v)| format!("{sn} {v}")).collect();
            return Some((
                EXIT_OK,
                format!(
                    "upgrade ended: ok, confirmed by the devices' state (no final event): {}",
                    versions.join(", ")
                ),
            ));
        }
        Change::Reverted {
            device,
            version,
            wanted,
        } => {
            return Some((
                EXIT_TASK_FAILED,
                format!(
                    "upgrade failed: {device} reports version {version}, not {wanted}, and is no longer upgrading"
                ),
            ));
        }
        Change::ConsistencyNeeded { device } => display.line(&format!(
            "{device} needs a consistency upgrade (firmware_upgrade_type 2)"
        )),
        Change::Ignored(why) => {
            let text = match why {
                Ignored::Duplicate { tid } => format!("duplicate event {tid}: set aside"),
                Ignored::OutOfOrder { tid, percent } => {
                    format!("event {tid} ({percent:?}%) older than the last one: set aside")
                }
                Ignored::Late { tid, ended: how } => {
                    format!(
                        "late message {tid}, after the task ended ({})",
                        ended(how).1
                    )
                }
                Ignored::Unknown { tid } => format!("message {tid} of no task of ours"),
                Ignored::UnmatchedReply { tid } | Ignored::ExtraReply { tid, .. } => {
                    format!("reply {tid} set aside")
                }
                Ignored::Outbound => return None,
            };
            display.note(&text);
        }
    }
    None
}

/// The exit status of an ended task, and how it ended.
fn ended(ending: &Ending) -> (u8, String) {
    match ending {
        Ending::Finished { status, result } => {
            let code = if status.is_success() {
                EXIT_OK
            } else {
                EXIT_TASK_FAILED
            };
            (code, format!("{status}, result {result}"))
        }
        Ending::Refused { result } => (EXIT_TASK_FAILED, format!("refused, result {result}")),
        Ending::NoReply => (EXIT_TIMED_OUT, "no reply".into()),
        Ending::Silent => (EXIT_TIMED_OUT, "the dock went silent".into()),
        Ending::Forgotten => (EXIT_TIMED_OUT, "given up".into()),
        Ending::Confirmed => (EXIT_OK, "ok, confirmed by the devices' state".into()),
        Ending::Reverted { device, version } => (
            EXIT_TASK_FAILED,
            format!("failed: {device} back at version {version}"),
        ),
    }
}

/// The `summary` line: the outcome and what was counted.
fn summary(code: u8, status: &CloudStatus) -> String {
    let outcome = if code == EXIT_OK { "ok" } else { "failed" };
    let mut pairs = vec![("status", outcome.to_string())];
    pairs.extend(counter_pairs(status));
    super::summary(&pairs)
}

/// What a cloud counted, as `summary` pairs: the events it received and answered, the
/// retries, the messages set aside and dropped, and the process's peak memory.
pub fn counter_pairs(status: &CloudStatus) -> Vec<(&'static str, String)> {
    let c = &status.counters;
    let t = &c.tracker;
    vec![
        ("events", c.events.to_string()),
        ("replies_sent", t.events_answered.to_string()),
        ("retries", t.retries.to_string()),
        ("duplicates", t.duplicates.to_string()),
        ("late", t.late.to_string()),
        ("out_of_order", t.out_of_order.to_string()),
        ("unknown", t.unknown.to_string()),
        (
            "stray_replies",
            (t.unmatched_replies + t.extra_replies).to_string(),
        ),
        ("received", c.received.to_string()),
        ("dropped", c.dropped.to_string()),
        ("not_ota", c.not_ota.to_string()),
        ("disconnections", c.disconnections.to_string()),
        ("saves", c.saves.to_string()),
        ("state_pushes", t.state_pushes.to_string()),
        (
            "peak_rss_kib",
            super::peak_rss_kib().map_or("unknown".into(), |k| k.to_string()),
        ),
    ]
}

/// A live progress bar on a terminal (step, percent, rate, time left); plain lines
/// otherwise, for logs and the tests.
struct Display {
    bar: Option<ProgressBar>,
    step: Option<String>,
}

impl Display {
    fn new() -> Self {
        Self {
            bar: None,
            step: None,
        }
    }

    fn terminal() -> bool {
        std::io::stdout().is_terminal()
    }

    /// A line that stays, above the bar if there is one.
    fn line(&mut self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => println!("{text}"),
        }
    }

    /// A line about a message set aside: on a terminal, shown in the bar's message
    /// rather than scrolling one line per message.
    fn note(&mut self, text: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(text.to_string()),
            None => println!("{text}"),
        }
    }

    fn progress(
        &mut self,
        status: &str,
        step: Option<&str>,
        percent: Option<i64>,
        rate: Option<u64>,
    ) {
        let step_name = step.unwrap_or("-");
        let rate_text = rate.map_or(String::new(), |r| format!(" {:.1} MB/s", r as f64 / 1e6));
        if !Self::terminal() {
            let shown = percent.map_or("?".into(), |p| p.to_string());
            println!("progress {step_name} {shown}% {status}{rate_text}");
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(100);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:<18} [{bar:30}] {pos:>3}% {msg} (left {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("#>."),
            );
            bar
        });
        if self.step.as_deref() != Some(step_name) {
            // A new step starts its own bar, so the time left is that of the step.
            bar.reset();
            bar.set_prefix(step_name.to_string());
            self.step = Some(step_name.to_string());
        }
        bar.set_position(percent.map_or(0, |p| p.clamp(0, 100).unsigned_abs()));
        bar.set_message(format!("{status}{rate_text}"));
    }

    /// Leaves the bar as it last was, and the cursor on the next line.
    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
            println!();
        }
    }
}
