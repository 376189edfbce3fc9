//! The `brokk` binary's command line: help, bad values rejected before anything is
//! written, server.properties with unimplemented keys reported, clean stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_brokk");

#[test]
fn help_documents_every_flag() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--data-dir",
        "--advertised-listener",
        "--config",
        "--ephemeral",
        "--override",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn bad_values_exit_non_zero_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for args in [
        vec!["--override", "num.partitions=0"],
        vec!["--listen", "nonsense"],
        vec!["--override", "log.segment.bytes=lots"],
        vec!["--override", "listeners=SSL://127.0.0.1:9093"],
        vec!["--no-such-flag"],
    ] {
        let out = Command::new(BIN)
            .args(&args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} explains itself");
        assert!(!data.exists(), "{args:?} wrote nothing");
    }
    let props = dir.path().join("server.properties");
    std::fs::write(&props, "num.partitions=abc\n").unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&props)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("num.partitions"));
}

/// Reads stderr lines until one contains `needle` (bounded by the child's output).
fn wait_for_line(lines: &mut impl Iterator<Item = String>, needle: &str) -> Vec<String> {
    let mut seen = vec![];
    for l in lines.by_ref() {
        let hit = l.contains(needle);
        seen.push(l);
        if hit {
            return seen;
        }
    }
    panic!("never logged {needle:?}: {seen:#?}");
}

#[test]
fn server_properties_unknown_keys_reported_and_sigterm_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let props = dir.path().join("server.properties");
    std::fs::write(
        &props,
        format!(
            "# a Kafka KRaft file\nprocess.roles=broker,controller\nnode.id=1\nlisteners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0\ncontroller.listener.names=CONTROLLER\nlog.dirs={}\nnum.network.threads=3\nlog.retention.hours=1\n",
            data.display()
        ),
    )
    .unwrap();
    let (seen, ok) = run_and_stop(&["--config", props.to_str().unwrap()]);
    let all = seen.join("\n");
    assert!(
        all.contains("process.roles") && all.contains("num.network.threads"),
        "unimplemented keys reported: {all}"
    );
    assert!(
        seen.last().unwrap().contains(&data.display().to_string()),
        "says where the data is"
    );
    assert!(ok, "SIGTERM is a clean stop");
    assert!(
        data.join(".kafka_cleanshutdown").exists(),
        "clean-shutdown marker written"
    );
    let meta = std::fs::read_to_string(data.join("meta.properties")).unwrap();
    assert!(meta.contains("node.id=1"));
}

/// Starts the binary with `args`, waits for its "listening" line, sends SIGTERM, and
/// returns (all stderr lines up to the listening line, exit success).
fn run_and_stop(args: &[&str]) -> (Vec<String>, bool) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    // Bounded: a broker that never starts or never stops is killed after 30 s (the test
    // then fails on the missing line or on `ok`).
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if done_rx.recv_timeout(Duration::from_secs(30)).is_err() {
            // SAFETY: signalling our own child, which is not reaped before `done` is sent.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let mut lines = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let seen = wait_for_line(&mut lines, "brokk listening on");
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let rest: Vec<String> = lines.collect(); // ends when the child closes stderr
    let ok = child.wait().unwrap().success();
    let _ = done_tx.send(());
    assert!(rest.iter().any(|l| l.contains("stopped cleanly")), "{rest:?}");
    (seen, ok)
}

#[test]
fn flags_override_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let props = dir.path().join("server.properties");
    std::fs::write(
        &props,
        format!(
            "listeners=PLAINTEXT://127.0.0.1:1\nlog.dirs={}\n",
            dir.path().join("from-file").display()
        ),
    )
    .unwrap();
    let flag_dir = dir.path().join("from-flag");
    let (seen, ok) = run_and_stop(&[
        "--config",
        props.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        flag_dir.to_str().unwrap(),
    ]);
    assert!(ok);
    let line = seen.last().unwrap();
    assert!(!line.contains("127.0.0.1:1 "), "--listen wins over listeners: {line}");
    assert!(
        line.contains(&flag_dir.display().to_string()),
        "--data-dir wins over log.dirs: {line}"
    );
    assert!(flag_dir.join("meta.properties").exists());
    assert!(!dir.path().join("from-file").exists());
}

#[test]
fn ephemeral_data_dir_is_removed_on_exit() {
    let (seen, ok) = run_and_stop(&["--listen", "127.0.0.1:0", "--ephemeral"]);
    assert!(ok);
    let line = seen.last().unwrap();
    let data = line.rsplit("data in ").next().unwrap().trim();
    assert!(data.contains("brokk-"), "{line}");
    assert!(!std::path::Path::new(data).exists(), "{data} removed at shutdown");
}
