//! The tracker's cost per event with 100, 1,000 and 10,000 tasks in flight, side by
//! side: what a cloud server following a fleet pays for each message and each turn of
//! its timer. The cost should not grow with the tasks in flight.
//!
//! Each tracker holds `n` accepted tasks, one per gateway, each upgrading the gateway's
//! own aircraft. Groups, each with one benchmark per `n`:
//! - `ota_progress`: `Tracker::handle` of one progress event that asks for a reply
//!   (applied, answered, the task's silence deadline moved), of a task taken in turn
//!   across the fleet;
//! - `ota_progress_hot`: the same events, of the first 100 tasks only, whose states
//!   stay in cache: the work of an event, apart from the cost of reaching a cold
//!   task's state;
//! - `state_push`: `Tracker::handle_state` of one aircraft's push (upgrading), routed to
//!   its task, of a task taken in turn likewise. Each push is copied from a table made
//!   beforehand, before it is timed, as the events are built: a server hands the tracker
//!   the push it just decoded, in cache, while reading it from the table at the time
//!   (as an earlier version of this bench did) timed the table's cache misses too,
//!   which grow with the fleet on the bench's side, not the tracker's;
//! - `poll_nothing_due`: `Tracker::poll` when no deadline has passed, what a server's
//!   timer does between deadlines;
//! - `next_deadline`: `Tracker::next_deadline`, which a server asks after every message
//!   to set its timer;
//! - `task_lookup`, the control: `Tracker::task` of a task taken in turn, which only
//!   reaches the task's state, so that what the groups above gain with the fleet's
//!   size can be told apart from what reaching one task among more costs.
//!
//! Decoding is left out (`benches/messages.rs` measures it): the messages are built
//! before they are timed.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use dji_cloud_ota::tracker::{TaskKey, Tracker, TrackerConfig};
use dji_cloud_ota::{
    Device, Message, OtaProgress, ResultCode, Serial, StatePush, Step, TaskStatus, UpgradeType,
    decode_state,
};

/// A plausible "now": late 2023, in Unix milliseconds.
const T0: u64 = 1_700_000_000_000;
const FLEETS: [usize; 3] = [100, 1_000, 10_000];
/// The tasks `ota_progress_hot` sends events to, whatever the fleet's size.
const HOT: usize = 100;

fn gateway(i: usize) -> Serial {
    Serial::new(&format!("4TADK{i:09}")).unwrap()
}

fn aircraft(i: usize) -> String {
    format!("1581F5BM{i:012}")
}

/// A tracker with `n` tasks in flight, each accepted by its dock, and their requests.
fn fleet(n: usize) -> (Tracker, Vec<Message>) {
    let mut tracker = Tracker::new(TrackerConfig {
        max_tasks: n,
        ..TrackerConfig::default()
    });
    let requests: Vec<Message> = (0..n)
        .map(|i| {
            let device = Device::new(aircraft(i), "04.01.0020", UpgradeType::NORMAL).with_file(
                "https://firmware.example.com/wm245_04.01.0020.zip",
                "6f1ed002ab5595859014ebf0951522d9",
                653_467_234,
                "wm245_04.01.0020.zip",
            );
            let started = tracker.start(gateway(i), vec![device], T0).unwrap();
            let reply = started
                .request
                .reply_to_create(ResultCode::SUCCESS, Some(TaskStatus::InProgress))
                .unwrap();
            tracker.handle(&reply, T0 + 100);
            started.request
        })
        .collect();
    assert_eq!(tracker.len(), n);
    (tracker, requests)
}

/// The tasks taken in turn: a stride through the fleet, so that consecutive events
/// concern tasks far apart, as a fleet's events do.
fn turn(count: u64, n: usize) -> usize {
    (count.wrapping_mul(7_919) % n as u64) as usize
}

fn ota_progress(c: &mut Criterion) {
    progress_events(c, "ota_progress", |n| n);
}

/// The events of `ota_progress`, on the first 100 tasks only, however many are in
/// flight: what handling an event costs once its task's state is in cache, so that
/// what the work itself gains with the fleet (a deeper queue of deadlines, a larger
/// map) shows apart from what reaching a cold task's state costs.
fn ota_progress_hot(c: &mut Criterion) {
    progress_events(c, "ota_progress_hot", |_| HOT);
}

/// The group `name`: progress events on the first `among(n)` tasks of a fleet of `n`,
/// taken in turn.
fn progress_events(c: &mut Criterion, name: &str, among: fn(usize) -> usize) {
    let mut group = c.benchmark_group(name);
    for n in FLEETS {
        let (mut tracker, requests) = fleet(n);
        let mut count = 0u64;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_batched(
                || {
                    count += 1;
                    let event = OtaProgress::new(TaskStatus::InProgress)
                        .with_progress(Step::DownloadFirmware, 50);
                    let mut message = requests[turn(count, among(n))]
                        .progress_event(event, true)
                        .unwrap();
                    // Later than every event before it: applied, never out of order.
                    message.timestamp = T0 + 1_000 + count;
                    message
                },
                |message| tracker.handle(black_box(&message), message.timestamp),
                BatchSize::SmallInput,
            )
        });
        // Every event was applied and answered, none set aside.
        let counters = tracker.counters();
        assert_eq!(counters.progress, counters.events_answered);
        assert_eq!(counters.duplicates + counters.out_of_order, 0);
    }
    group.finish();
}

fn state_push(c: &mut Criterion) {
    let mut group = c.benchmark_group("state_push");
    for n in FLEETS {
        let (mut tracker, _) = fleet(n);
        let pushes: Vec<StatePush> = (0..n)
            .map(|i| {
                let payload = format!(
                    r#"{{"tid":"5d9e54a9-4a6c-4e39-9a0e-7c1e3b6dbb7b","bid":"8d6a7a5e-7a0d-4b8b-a0a9-4f0e8c6a2f11","timestamp":1700000001000,"gateway":"{}","data":{{"firmware_version":"04.01.0010","firmware_upgrade_status":1}}}}"#,
                    gateway(i)
                );
                let topic = format!("thing/product/{}/state", aircraft(i));
                decode_state(&topic, payload.as_bytes()).unwrap()
            })
            .collect();
        let mut count = 0u64;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_batched(
                || {
                    count += 1;
                    // A copy made before it is timed, as a server hands the tracker the
                    // push it just decoded: not read from the bench's table of `n`
                    // pushes, which is out of cache at 10,000.
                    (pushes[turn(count, n)].clone(), T0 + 1_000 + count)
                },
                |(push, now)| tracker.handle_state(black_box(&push), now),
                BatchSize::SmallInput,
            )
        });
        assert_eq!(
            tracker.len(),
            n,
            "a push of an upgrading device ends nothing"
        );
    }
    group.finish();
}

fn poll_nothing_due(c: &mut Criterion) {
    let mut group = c.benchmark_group("poll_nothing_due");
    for n in FLEETS {
        let (mut tracker, _) = fleet(n);
        let now = T0 + 1_000;
        assert!(tracker.next_deadline().is_some_and(|at| at > now));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| tracker.poll(black_box(now)))
        });
        assert_eq!(tracker.len(), n);
    }
    group.finish();
}

/// The control: `Tracker::task` of a task taken in turn, a lookup by key that builds
/// the task's state and nothing else. What it gains from 100 to 10,000 tasks is the
/// price of reaching one task's state among more (memory, not work), which the groups
/// above pay too.
fn task_lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("task_lookup");
    for n in FLEETS {
        let (tracker, requests) = fleet(n);
        let keys: Vec<TaskKey> = requests.iter().map(TaskKey::of).collect();
        let mut count = 0u64;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                count += 1;
                tracker.task(black_box(&keys[turn(count, n)])).unwrap()
            })
        });
    }
    group.finish();
}

fn next_deadline(c: &mut Criterion) {
    let mut group = c.benchmark_group("next_deadline");
    for n in FLEETS {
        let (tracker, _) = fleet(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(&tracker).next_deadline())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Short: the five groups at three sizes run in about two minutes.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = ota_progress, ota_progress_hot, state_push, poll_nothing_due, next_deadline, task_lookup
}
criterion_main!(benches);
