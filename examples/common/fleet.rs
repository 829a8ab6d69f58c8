//! `ota-fleet`'s inputs and reports: the fleet (CSV) and firmware (JSON) files read into
//! a rollout plan, every error naming its file and line, and a rollout's status as text
//! or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use dji_cloud_ota::rollout::{
    Counts, Firmware, FleetDevice, Outcome, PlanError, Policy, RestoreError, RolloutPlan,
    RolloutSnapshot,
};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use dji_cloud_ota::rollout::{RolloutState, Verdict};
use dji_cloud_ota::tracker::{Change, Ignored};
use dji_cloud_ota::{Serial, Text};
use dji_cloud_ota_mqtt::{Cloud, CloudEvent, CloudEvents, RolloutControl, RolloutStatus};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

/// Exit status: every device ended ok or skipped.
pub const EXIT_OK: u8 = 0;
/// Exit status: the rollout finished with failures (or was cancelled).
pub const EXIT_FAILURES: u8 = 1;
/// Exit status: bad input; nothing started.
pub const EXIT_INPUT: u8 = 2;
/// Exit status: the broker could not be reached or refused the login.
pub const EXIT_BROKER: u8 = 3;
/// Exit status: the failure threshold stopped the rollout.
pub const EXIT_ABORTED: u8 = 4;

/// The two files of a rollout, as read: the plan, and the line of each device in the
/// fleet file.
pub struct Inputs {
    pub fleet: PathBuf,
    pub firmware_file: PathBuf,
    pub devices: Vec<FleetDevice>,
    pub lines: Vec<u64>,
    pub firmware: BTreeMap<Text, Firmware>,
}

/// Reads `FLEET.csv` (a header line `gateway,sn,model`, then a device a line) and
/// `FIRMWARE.json` (an object keyed by model). The error names the file and the line.
pub fn read(fleet: &Path, firmware: &Path) -> Result<Inputs, String> {
    let (devices, lines) = read_fleet(fleet)?;
    let firmware_map = read_firmware(firmware)?;
    Ok(Inputs {
        fleet: fleet.to_path_buf(),
        firmware_file: firmware.to_path_buf(),
        devices,
        lines,
        firmware: firmware_map,
    })
}

fn read_fleet(path: &Path) -> Result<(Vec<FleetDevice>, Vec<u64>), String> {
    let name = path.display();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| format!("{name}: {e}"))?;
    let header = reader
        .headers()
        .map_err(|e| format!("{name} line 1: {e}"))?
        .clone();
    if header.iter().collect::<Vec<_>>() != ["gateway", "sn", "model"] {
        return Err(format!(
            "{name} line 1: the header must be `gateway,sn,model`, not `{}`",
            header.iter().collect::<Vec<_>>().join(",")
        ));
    }
    let mut devices = Vec::new();
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| match e.position() {
            Some(p) => format!("{name} line {}: {e}", p.line()),
            None => format!("{name}: {e}"),
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        let at = |text: String| format!("{name} line {line}: {text}");
        if record.len() != 3 {
            return Err(at(format!(
                "expected 3 fields (gateway,sn,model), found {}",
                record.len()
            )));
        }
        let serial = |field: &str, text: &str| {
            Serial::new(text)
                .map_err(|e| at(format!("{field} {text:?} is not a usable serial: {e}")))
        };
        let gateway = serial("gateway", &record[0])?;
        let sn = serial("sn", &record[1])?;
        if record[2].is_empty() {
            return Err(at("the model is empty".into()));
        }
        devices.push(FleetDevice::new(gateway, sn, &record[2]));
        lines.push(line);
    }
    if devices.is_empty() {
        return Err(format!("{name}: no device after the header"));
    }
    Ok((devices, lines))
}

fn read_firmware(path: &Path) -> Result<BTreeMap<Text, Firmware>, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{name}: {e} (expected an object keyed by model, each \
             {{\"version\", \"url\", \"md5\", \"size\", \"file_name\", \"upgrade_type\"}})"
        )
    })
}

impl Inputs {
    /// The plan with `policy`.
    pub fn plan(&self, policy: Policy) -> RolloutPlan {
        RolloutPlan {
            devices: self.devices.clone(),
            firmware: self.firmware.clone(),
            policy,
        }
    }

    /// Why the plan cannot run, with the file and line of the device concerned.
    pub fn explain(&self, error: &PlanError) -> String {
        let fleet = self.fleet.display();
        let line = |index: usize| self.lines.get(index).copied().unwrap_or(0);
        match error {
            PlanError::DuplicateDevice { sn, first, second } => format!(
                "{fleet} line {}: device {sn} is listed twice (first on line {})",
                line(*second),
                line(*first)
            ),
            PlanError::NoFirmware { index, model, .. } => format!(
                "{fleet} line {}: model {model:?} has no firmware in {}",
                line(*index),
                self.firmware_file.display()
            ),
            PlanError::TooManyDevices { gateway, index, .. } => format!(
                "{fleet} line {}: gateway {gateway} has a third device; one ota_create \
                 upgrades a dock and its aircraft, at most 2",
                line(*index)
            ),
            PlanError::Invalid { gateway, errors } => format!(
                "{}: the ota_create of gateway {gateway} would not be valid: {errors}",
                self.firmware_file.display()
            ),
            // Named as the option that sets it: `max_in_flight` is `--max-in-flight`.
            PlanError::Policy { field, rule } => format!("--{} {rule}", field.replace('_', "-")),
            other => format!("{fleet}: {other}"),
        }
    }

    /// How the files differ from the rollout a state holds, if they do.
    pub fn differences(
        &self,
        saved_firmware: &BTreeMap<Text, Firmware>,
        error: Option<&RestoreError>,
    ) -> Option<String> {
        let fleet = self.fleet.display();
        if let Some(error) = error {
            return Some(match error {
                RestoreError::DeviceCount { plan, saved } => {
                    format!("{fleet} lists {plan} devices; the state's rollout has {saved}")
                }
                RestoreError::DeviceDiffers { index, plan, saved } => format!(
                    "{fleet} line {}: {},{},{} where the state's rollout has {},{},{}",
                    self.lines.get(*index).copied().unwrap_or(0),
                    plan.gateway,
                    plan.sn,
                    plan.model,
                    saved.gateway,
                    saved.sn,
                    saved.model
                ),
                RestoreError::Plan(e) => self.explain(e),
                other => format!("the state cannot be taken up: {other}"),
            });
        }
        if *saved_firmware != self.firmware {
            let models: Vec<&Text> = saved_firmware
                .keys()
                .chain(self.firmware.keys())
                .filter(|m| saved_firmware.get(*m) != self.firmware.get(*m))
                .collect();
            let mut models: Vec<String> = models.iter().map(|m| m.to_string()).collect();
            models.dedup();
            return Some(format!(
                "{}: the firmware of {} differs from the state's rollout",
                self.firmware_file.display(),
                models.join(", ")
            ));
        }
        None
    }
}

/// A rollout's status as JSON: its name (`rollout`), `state`, `verdict` (`null` until
/// it ended), `counts` by outcome and `devices` (gateway, sn, model, outcome, result,
/// attempts, started_ms, ended_ms).
pub fn status_json(
    name: &str,
    snapshot: &RolloutSnapshot,
    verdict: Option<Verdict>,
) -> serde_json::Value {
    let counts = Counts::of_records(&snapshot.devices);
    json!({
        "rollout": name,
        "state": snapshot.header.state.as_str(),
        "verdict": verdict,
        "counts": Outcome::ALL.iter().map(|o| (o.as_str().to_string(), json!(counts.of(*o)))).collect::<serde_json::Map<_, _>>(),
        "devices": snapshot.devices.iter().map(|d| json!({
            "gateway": d.device.gateway.as_str(),
            "sn": d.device.sn.as_str(),
            "model": d.device.model.as_str(),
            "outcome": d.outcome.as_str(),
            "result": d.result.map(|r| r.0),
            "attempts": d.attempts,
            "started_ms": d.started_ms,
            "ended_ms": d.ended_ms,
        })).collect::<Vec<_>>(),
    })
}

/// A rollout's status as text: its state (or how it ended) and a line of counts, then
/// a line per device that is not ok or skipped.
pub fn status_text(name: &str, snapshot: &RolloutSnapshot, verdict: Option<Verdict>) -> String {
    let counts = Counts::of_records(&snapshot.devices);
    let state = match verdict {
        Some(verdict) => format!("ended {}", verdict_text(verdict)),
        None => snapshot.header.state.to_string(),
    };
    let mut out = format!("rollout {name}: {state} — {}\n", counts_line(&counts));
    for d in &snapshot.devices {
        if matches!(d.outcome, Outcome::Ok | Outcome::Skipped) {
            continue;
        }
        let _ = write!(
            out,
            "{} {} {}: {}",
            d.device.gateway, d.device.sn, d.device.model, d.outcome
        );
        if let Some(result) = d.result.filter(|r| !r.is_success()) {
            let _ = write!(out, ", result {result}");
            if let Some(text) = result.description() {
                let _ = write!(out, " ({text})");
            }
        }
        if d.attempts > 1 {
            let _ = write!(out, ", {} attempts", d.attempts);
        }
        out.push('\n');
    }
    out
}

/// `ok 18, failed 1, skipped 1, cancelled 0, waiting 0, in_progress 0`.
pub fn counts_line(counts: &Counts) -> String {
    Outcome::ALL
        .iter()
        .map(|o| format!("{o} {}", counts.of(*o)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Follows the rollout `name` of `plan` on a connected `cloud` to its end, with a live
/// display, after applying `control` to it if given; the exit status.
pub async fn follow(
    cloud: Cloud,
    mut events: CloudEvents,
    name: &str,
    plan: RolloutPlan,
    resumed: bool,
    control: Option<RolloutControl>,
) -> u8 {
    let devices = plan.devices.len();
    let mut display = Display::new(devices);
    let status = match cloud.rollout(name, plan).await {
        Ok(status) => status,
        Err(e) => {
            eprintln!("ota-fleet: {e}");
            return EXIT_INPUT;
        }
    };
    display.line(&format!(
        "rollout {}: {devices} devices, {}",
        status.name,
        if resumed {
            "taken up where it was"
        } else {
            "started"
        }
    ));
    display.show(&status);
    let mut last = status;
    // After a control, the state it leads to: the statuses reported before it took
    // effect (a commit of the rollout taken up, say) are passed over until then.
    let mut awaiting = None;
    if let Some(control) = control {
        match applies(control, &last) {
            Ok((done, state)) => match cloud.control(name, control).await {
                Ok(true) => {
                    display.line(&format!("rollout {name}: {done}"));
                    awaiting = Some(state);
                }
                Ok(false) => display.line(&format!("rollout {name} was so already")),
                Err(e) => {
                    display.finish();
                    eprintln!("ota-fleet: {e}");
                    return EXIT_INPUT;
                }
            },
            Err(why) => display.line(&format!("rollout {name} {why}")),
        }
    }
    let mut foreign = Foreign::default();
    while awaiting.is_some() || last.verdict.is_none() {
        let event = tokio::select! {
            event = events.next() => event,
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                foreign.report(&mut display);
                continue;
            }
        };
        match event {
            Some(CloudEvent::Rollout(status)) if status.name == name => {
                if awaiting.is_some_and(|state| state != status.state) {
                    continue;
                }
                awaiting = None;
                display.show(&status);
                last = status;
            }
            Some(CloudEvent::Update(update)) => match &update.change {
                Change::Ignored(Ignored::Unknown { .. }) => foreign.count += 1,
                change if change.is_final() && !change.is_success() => {
                    display.line(&format!("{}: {}", update.task.gateway, ending(change)));
                }
                _ => {}
            },
            Some(CloudEvent::Disconnected { reason }) => {
                display.line(&format!("connection lost: {reason}; connecting again"));
            }
            Some(CloudEvent::Connected { .. }) => display.line("connected again"),
            Some(CloudEvent::Dropped {
                count,
                topic,
                reason,
            }) => {
                display.line(&format!(
                    "{count} message(s) dropped, the last on {topic}: {reason}"
                ));
            }
            Some(CloudEvent::StoreFailed { reason }) => {
                display.line(&format!(
                    "the state could not be saved: {reason}; trying again"
                ));
            }
            Some(CloudEvent::Failed { reason }) => {
                display.finish();
                eprintln!("ota-fleet: {reason}");
                return EXIT_BROKER;
            }
            Some(_) => {}
            None => {
                display.finish();
                return EXIT_BROKER;
            }
        }
    }
    foreign.report(&mut display);
    display.finish();
    let verdict = last.verdict.unwrap_or(Verdict::Failures);
    println!(
        "rollout {} ended: {} ({})",
        last.name,
        verdict_text(verdict),
        counts_line(&last.counts)
    );
    cloud.close().await;
    match verdict {
        Verdict::Success => EXIT_OK,
        Verdict::Failures => EXIT_FAILURES,
        Verdict::Aborted => EXIT_ABORTED,
    }
}

/// What `control` does to a rollout whose status is `status`: the words for it and the
/// state it leads to, or why it does nothing (the rollout is then followed as it is).
/// The state it leads to is the rollout's rule (`RolloutState::resumed`, `cancelled`);
/// cancelling a rollout that ended running (every device done) would change its state
/// and nothing else, and is not sent.
fn applies(
    control: RolloutControl,
    status: &RolloutStatus,
) -> Result<(&'static str, RolloutState), &'static str> {
    let ended = status.verdict.is_some();
    let state = status.state;
    match control {
        RolloutControl::Resume => match state.resumed() {
            Some(next) => Ok(("resumed", next)),
            None if state == RolloutState::Cancelled => Err("was cancelled: it cannot be resumed"),
            None if ended => Err("ended: nothing to resume"),
            None => Err("is running: nothing to resume"),
        },
        RolloutControl::Cancel => match state.cancelled() {
            None => Err("was cancelled already"),
            Some(_) if ended && state == RolloutState::Running => Err("ended: nothing to cancel"),
            Some(next) => Ok((
                "cancelled: no new start; the tasks in flight run to their end",
                next,
            )),
        },
        _ => Err("is left as it is"),
    }
}

/// How a rollout ended, in words.
fn verdict_text(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Success => "every device ok or skipped",
        Verdict::Failures => "with failures",
        Verdict::Aborted => "stopped by the failure threshold",
    }
}

fn ending(change: &Change) -> String {
    match change {
        Change::Finished { status, result } => format!("ended {status}, result {result}"),
        Change::Refused { result, .. } => {
            let meaning = result
                .description()
                .map_or(String::new(), |t| format!(" ({t})"));
            let later = if result.is_transient() {
                "; tried again later, while attempts are left"
            } else {
                ""
            };
            format!("refused: {result}{meaning}{later}")
        }
        Change::NoReply { attempts } => format!("no reply to {attempts} attempt(s)"),
        Change::Silent { .. } => "went silent".into(),
        Change::Reverted {
            device, version, ..
        } => format!("{device} back at {version}"),
        other => format!("{other:?}"),
    }
}

/// Messages of no task of ours (another server's docks, forged ones): counted, and
/// summed up at most every 5 s, never a line each.
#[derive(Default)]
struct Foreign {
    count: u64,
    last: Option<Instant>,
}

impl Foreign {
    fn report(&mut self, display: &mut Display) {
        if self.count == 0
            || self
                .last
                .is_some_and(|t| t.elapsed() < Duration::from_secs(5))
        {
            return;
        }
        display.line(&format!(
            "{} message(s) of no task of this rollout, set aside",
            std::mem::take(&mut self.count)
        ));
        self.last = Some(Instant::now());
    }
}

/// A bar for the rollout on a terminal; a line per change otherwise.
struct Display {
    bar: Option<ProgressBar>,
    shown: Option<String>,
}

impl Display {
    fn new(devices: usize) -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = ProgressBar::new(devices as u64);
            bar.set_style(
                ProgressStyle::with_template("[{bar:40}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("#>."),
            );
            bar
        });
        Self { bar, shown: None }
    }

    fn line(&mut self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => println!("{text}"),
        }
    }

    fn show(&mut self, status: &RolloutStatus) {
        let c = &status.counts;
        let text = format!(
            "ok {}, failed {}, upgrading {} ({} task(s) in flight), waiting {}, skipped {}{}",
            c.ok,
            c.failed,
            c.in_progress,
            status.in_flight,
            c.waiting,
            c.skipped,
            if c.cancelled > 0 {
                format!(", cancelled {}", c.cancelled)
            } else {
                String::new()
            }
        );
        let text = format!("{} {text}", status.state);
        if self.shown.as_deref() == Some(&text) {
            return;
        }
        match &self.bar {
            Some(bar) => {
                bar.set_position((c.ok + c.failed + c.skipped + c.cancelled) as u64);
                bar.set_message(text.clone());
            }
            None => println!("rollout {text}"),
        }
        self.shown = Some(text);
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}
