//! Benchmark floor: the least a no-op cron job can do safely. Take the lock, read the state,
//! write it back atomically with both fsyncs (file and directory), exit. Built with `rustc -O`.
use std::fs::{self, File, OpenOptions};
use std::io::Write;

fn main() {
    let root = std::env::args().nth(1).expect("usage: floor ROOT");
    let state_dir = format!("{root}/state");
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(format!("{state_dir}/floor.lock"))
        .expect("open lock");
    lock.try_lock().expect("lock held");
    let path = format!("{state_dir}/floor.json");
    let mut state = fs::read_to_string(&path).unwrap_or_else(|_| "{\"runs\":0}".into());
    // The least possible "update": bump a counter textually.
    let n: u64 = state
        .trim()
        .trim_start_matches("{\"runs\":")
        .trim_end_matches('}')
        .parse()
        .unwrap_or(0);
    state = format!("{{\"runs\":{}}}", n + 1);
    let tmp = format!("{state_dir}/.floor.json.tmp");
    let mut f = File::create(&tmp).expect("create tmp");
    f.write_all(state.as_bytes()).expect("write");
    f.sync_all().expect("fsync file");
    fs::rename(&tmp, &path).expect("rename");
    File::open(&state_dir).and_then(|d| d.sync_all()).expect("fsync dir");
}
