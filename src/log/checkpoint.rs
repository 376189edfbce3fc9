//! Small metadata files in Kafka's formats, written atomically (temp file, fsync, rename,
//! fsync of the directory).
//!
//! Owns: `recovery-point-offset-checkpoint`, `meta.properties`, `partition.metadata`, and
//! the `.properties` files of topic metadata. Must not know about segments.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::LogError;

/// Writes `contents` to `path` atomically and durably.
pub fn write_atomic(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), LogError> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| LogError::io(&tmp, e))?;
    f.write_all(contents.as_ref()).map_err(|e| LogError::io(&tmp, e))?;
    f.sync_all().map_err(|e| LogError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| LogError::io(path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// fsyncs a directory so that creates/renames/deletes in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::io(dir, e))
}

/// Flushes every file of the filesystem holding `dir` (syncfs(2)): one call instead of an
/// fsync per file written at start-up.
pub fn sync_filesystem(dir: &Path) -> Result<(), LogError> {
    use std::os::fd::AsRawFd;
    let d = File::open(dir).map_err(|e| LogError::io(dir, e))?;
    // SAFETY: syncfs only reads the descriptor, which `d` keeps open for the call.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(LogError::io(dir, std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Parses Java-properties-style `key=value` lines (`#`/`!` comments, blank lines).
pub fn parse_properties(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((k, v)) = line.split_once(['=', ':']) else {
            return Err(format!("line {}: expected key=value, got {line:?}", i + 1));
        };
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// Renders a properties map (sorted keys).
pub fn render_properties(header: &str, map: &BTreeMap<String, String>) -> String {
    let mut s = format!("#{header}\n");
    for (k, v) in map {
        s.push_str(&format!("{k}={v}\n"));
    }
    s
}

/// Kafka's offset checkpoint format: version line `0`, entry count, then
/// `topic partition offset` lines.
pub fn write_offset_checkpoint(path: &Path, entries: &[(String, i32, i64)]) -> Result<(), LogError> {
    let mut s = format!("0\n{}\n", entries.len());
    for (t, p, o) in entries {
        s.push_str(&format!("{t} {p} {o}\n"));
    }
    write_atomic(path, &s)
}

/// Reads an offset checkpoint; a missing or malformed file yields an empty map (the caller
/// then recovers everything, which is always safe).
pub fn read_offset_checkpoint(path: &Path) -> BTreeMap<(String, i32), i64> {
    let mut out = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return out;
    };
    let mut lines = text.lines();
    if lines.next() != Some("0") {
        return out;
    }
    let Some(Ok(n)) = lines.next().map(|l| l.trim().parse::<usize>()) else {
        return out;
    };
    for line in lines.take(n) {
        let mut parts = line.split(' ');
        let (Some(t), Some(p), Some(o), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return BTreeMap::new();
        };
        let (Ok(p), Ok(o)) = (p.parse(), o.parse()) else {
            return BTreeMap::new();
        };
        out.insert((t.to_string(), p), o);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trip_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("recovery-point-offset-checkpoint");
        write_offset_checkpoint(&p, &[("a.b".into(), 0, 5), ("c".into(), 3, 9)]).unwrap();
        let m = read_offset_checkpoint(&p);
        assert_eq!(m.get(&("a.b".to_string(), 0)), Some(&5));
        assert_eq!(m.get(&("c".to_string(), 3)), Some(&9));
        std::fs::write(&p, "0\n2\nx 1\n").unwrap();
        assert!(read_offset_checkpoint(&p).is_empty());
    }

    #[test]
    fn properties() {
        let m = parse_properties("# c\nlisteners=PLAINTEXT://127.0.0.1:9092\n\n a = b \n").unwrap();
        assert_eq!(m["listeners"], "PLAINTEXT://127.0.0.1:9092");
        assert_eq!(m["a"], "b");
        assert!(parse_properties("novalue").is_err());
    }
}
