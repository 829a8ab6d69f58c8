//! The cloud side over MQTT: one upgrade of one gateway, driven by the crate's
//! `Tracker`, with live progress.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use dji_cloud_ota::tracker::{Change, Ending, Ignored, Tracker, Update};
use dji_cloud_ota::{Device, Serial, Topic, TopicKind, now_millis};
use tokio::time::{Instant, sleep_until};

use super::mqtt::{Connection, Incoming};
use super::{
    EXIT_BROKER, EXIT_OK, EXIT_TASK_FAILED, EXIT_TIMED_OUT, EXIT_USAGE, SetAside, TrackerArgs,
};

/// The topics the cloud listens to for one gateway.
pub fn filters(gateway: &Serial) -> Vec<String> {
    [TopicKind::ServicesReply, TopicKind::Events]
        .into_iter()
        .map(|kind| Topic::new(gateway.clone(), kind).to_string())
        .collect()
}

/// What the cloud counted, for the summary line.
#[derive(Debug, Default)]
struct Counts {
    events: u64,
    replies_sent: u64,
    retries: u64,
    set_aside: SetAside,
}

/// Upgrades `devices` behind `gateway` through `conn`; the process's exit status.
pub async fn run(
    mut conn: Connection,
    gateway: Serial,
    devices: Vec<Device>,
    args: &TrackerArgs,
) -> u8 {
    if let Err(reason) = conn.ready().await {
        eprintln!("ota-cloud: {reason}");
        return EXIT_BROKER;
    }
    let mut tracker = Tracker::new(args.config());
    let started = match tracker.start(gateway.clone(), devices, now_millis()) {
        Ok(started) => started,
        Err(e) => {
            eprintln!("ota-cloud: {e}");
            return EXIT_USAGE;
        }
    };
    let request = &started.request;
    println!(
        "upgrading {gateway}: task bid {}, ota_create tid {}",
        request.bid, request.tid
    );
    if !conn.publish(request).await {
        eprintln!("ota-cloud: the connection closed");
        return EXIT_BROKER;
    }
    let mut display = Display::new();
    let mut counts = Counts::default();
    let give_up = Instant::now() + args.timeout();
    let mut ending: Option<(u8, String, Instant)> = None;
    loop {
        let stop = match &ending {
            Some((.., until)) => *until,
            None => give_up,
        };
        let next_poll = tracker.next_deadline().map(super::instant_at);
        let output = tokio::select! {
            item = conn.incoming.recv() => match item {
                Some(Incoming::Message(message)) => {
                    if message.sn == gateway && message.topic().kind == TopicKind::Events {
                        counts.events += 1;
                    }
                    tracker.handle(&message, now_millis())
                }
                Some(Incoming::Lost { reason, fatal }) => {
                    display.line(&format!("connection lost: {reason}"));
                    if fatal {
                        return EXIT_BROKER;
                    }
                    continue;
                }
                // Other events of the gateway (hms, ...) are not ours.
                Some(Incoming::Ready | Incoming::Undecodable(..)) => continue,
                None => {
                    display.line("the connection closed");
                    return EXIT_BROKER;
                }
            },
            () = sleep_until(next_poll.unwrap_or(stop)), if next_poll.is_some() => {
                tracker.poll(now_millis())
            }
            () = sleep_until(stop) => break,
        };
        for message in &output.publish {
            if message.topic().kind == TopicKind::EventsReply {
                counts.replies_sent += 1;
            }
            if !conn.publish(message).await {
                display.line("the connection closed");
                return EXIT_BROKER;
            }
        }
        for update in &output.updates {
            if let Some(end) = report(update, &mut display, &mut counts) {
                let linger = Instant::now() + Duration::from_millis(args.linger_ms);
                ending.get_or_insert((end.0, end.1, linger));
            }
        }
    }
    let (code, reason) = match ending {
        Some((code, reason, _)) => (code, reason),
        None => (
            EXIT_TIMED_OUT,
            format!(
                "gave up after {} s without an end",
                args.timeout().as_secs()
            ),
        ),
    };
    display.line(&reason);
    let c = &counts;
    let status = if code == EXIT_OK { "ok" } else { "failed" };
    let mut pairs = vec![
        ("status", status.to_string()),
        ("events", c.events.to_string()),
        ("replies_sent", c.replies_sent.to_string()),
        ("retries", c.retries.to_string()),
    ];
    pairs.extend(c.set_aside.pairs());
    println!("{}", super::summary(&pairs));
    conn.close().await;
    code
}

/// Shows one update; for an end, the exit status and why.
fn report(update: &Update, display: &mut Display, counts: &mut Counts) -> Option<(u8, String)> {
    match &update.change {
        Change::Retried { attempt, tid } => {
            counts.retries += 1;
            display.line(&format!(
                "no reply yet: sent ota_create again (attempt {attempt}, tid {tid})"
            ));
        }
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
        } => {
            display.progress(
                status.as_str(),
                step.as_ref().map(|s| s.as_str()),
                *percent,
                *rate,
            );
        }
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
                format!("the dock went silent: nothing for {quiet} ms"),
            ));
        }
        Change::Ignored(why) => {
            counts.set_aside.count(why);
            let text = match why {
                Ignored::Duplicate { tid } => format!("duplicate event {tid}: set aside"),
                Ignored::OutOfOrder { tid, percent } => {
                    format!("event {tid} ({percent:?}%) older than the last one: set aside")
                }
                Ignored::Late { tid, ended } => {
                    format!(
                        "late message {tid}, after the task ended ({})",
                        ending(ended)
                    )
                }
                Ignored::Unknown { tid } => format!("message {tid} of no task of ours"),
                Ignored::UnmatchedReply { tid } | Ignored::ExtraReply { tid, .. } => {
                    format!("reply {tid} set aside")
                }
                Ignored::Outbound => return None,
            };
            display.line(&text);
        }
    }
    None
}

/// A progress bar on a terminal, plain lines otherwise.
struct Display {
    terminal: bool,
    bar_shown: bool,
}

impl Display {
    fn new() -> Self {
        Self {
            terminal: std::io::stdout().is_terminal(),
            bar_shown: false,
        }
    }

    fn line(&mut self, text: &str) {
        if self.bar_shown {
            println!();
            self.bar_shown = false;
        }
        println!("{text}");
    }

    fn progress(
        &mut self,
        status: &str,
        step: Option<&str>,
        percent: Option<i64>,
        rate: Option<u64>,
    ) {
        let step = step.unwrap_or("-");
        let rate = rate.map_or(String::new(), |r| format!(" {:.1} MB/s", r as f64 / 1e6));
        let shown = percent.map_or("?".into(), |p| p.to_string());
        if self.terminal {
            let filled = usize::try_from(percent.unwrap_or(0).clamp(0, 100) / 5).unwrap_or(0);
            let bar = format!("{}{}", "#".repeat(filled), ".".repeat(20 - filled));
            print!("\r{step:<18} [{bar}] {shown:>3}% {status}{rate}\x1b[K");
            let _ = std::io::stdout().flush();
            self.bar_shown = true;
        } else {
            println!("progress {step} {shown}% {status}{rate}");
        }
    }
}

fn ending(ended: &Ending) -> String {
    match ended {
        Ending::Finished { status, result } => format!("{status}, result {result}"),
        Ending::Refused { result } => format!("refused, result {result}"),
        Ending::NoReply => "no reply".into(),
        Ending::Silent => "silent".into(),
        Ending::Forgotten => "given up".into(),
    }
}
