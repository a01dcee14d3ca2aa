//! Reading the packet log back: the last lines that match a filter, and
//! following the file as it grows and is rotated (`moat log tail`).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;

use crate::record::LogLine;

/// Which lines to show; every given part must hold.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The source address lies in this network.
    pub src: Option<IpNet>,
    /// The destination address lies in this network.
    pub dst: Option<IpNet>,
    /// The prefix contains this text.
    pub prefix: Option<String>,
    /// The protocol (`tcp`, `udp`, `icmp`, ...).
    pub proto: Option<String>,
    /// The source or destination port.
    pub port: Option<u16>,
}

/// One line as read: parsed when it is JSON, else kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A JSON line.
    Json(Box<LogLine>),
    /// A line in the text layout.
    Text(String),
}

fn in_net(addr: Option<&str>, net: &Option<IpNet>) -> bool {
    match net {
        None => true,
        Some(net) => addr
            .and_then(|a| a.parse::<IpAddr>().ok())
            .is_some_and(|a| net.contains(&a)),
    }
}

/// The value of `KEY=` in a text line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    line[at..].split(' ').next()
}

impl Filter {
    /// Whether `entry` passes.
    pub fn matches(&self, entry: &Entry) -> bool {
        match entry {
            Entry::Json(l) => {
                in_net(l.src.as_deref(), &self.src)
                    && in_net(l.dst.as_deref(), &self.dst)
                    && self.prefix.as_ref().is_none_or(|p| {
                        l.prefix
                            .as_deref()
                            .is_some_and(|have| have.contains(p.as_str()))
                    })
                    && self.proto.as_ref().is_none_or(|p| {
                        l.proto
                            .as_deref()
                            .is_some_and(|have| have.eq_ignore_ascii_case(p))
                    })
                    && self
                        .port
                        .is_none_or(|p| l.sport == Some(p) || l.dport == Some(p))
            }
            Entry::Text(t) => {
                in_net(field(t, "SRC"), &self.src)
                    && in_net(field(t, "DST"), &self.dst)
                    && self.prefix.as_ref().is_none_or(|p| t.contains(p.as_str()))
                    && self.proto.as_ref().is_none_or(|p| {
                        field(t, "PROTO").is_some_and(|have| have.eq_ignore_ascii_case(p))
                    })
                    && self.port.is_none_or(|p| {
                        let p = p.to_string();
                        field(t, "SPT") == Some(p.as_str()) || field(t, "DPT") == Some(p.as_str())
                    })
            }
        }
    }
}

/// Reads one line of the file.
pub fn entry(line: &str) -> Entry {
    match serde_json::from_str::<LogLine>(line) {
        Ok(l) if line.starts_with('{') => Entry::Json(Box::new(l)),
        _ => Entry::Text(line.to_string()),
    }
}

/// The last `count` lines of the file at `path` that pass `filter`, and
/// the byte offset where the file ended.
pub fn last(path: &Path, filter: &Filter, count: usize) -> io::Result<(Vec<Entry>, u64)> {
    let mut file = File::open(path)?;
    let mut kept = VecDeque::with_capacity(count.min(4096));
    let mut reader = BufReader::new(&mut file);
    let mut line = String::new();
    let mut offset = 0u64;
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        offset += n as u64;
        let e = entry(line.trim_end());
        if count > 0 && filter.matches(&e) {
            if kept.len() == count {
                kept.pop_front();
            }
            kept.push_back(e);
        }
    }
    Ok((kept.into(), offset))
}

/// Calls `show` for every line that passes `filter` written to `path` after
/// byte `offset`, following the file across rotations, until `show` says stop.
/// The file being read stays open: when `path` names a new file, the rest
/// of the old one is read first, so the lines written just before a
/// rotation are shown too; a file cut short (copytruncate) is read again
/// from its start.
pub fn follow(
    path: &Path,
    filter: &Filter,
    offset: u64,
    mut show: impl FnMut(&Entry) -> bool,
) -> io::Result<()> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = BufReader::new(file);
    let mut pending = String::new();
    loop {
        if !read_on(&mut reader, &mut pending, filter, &mut show)? {
            return Ok(());
        }
        if let Some(next) = rotated(path, reader.get_ref())? {
            if !read_on(&mut reader, &mut pending, filter, &mut show)? {
                return Ok(());
            }
            reader = BufReader::new(next);
            pending.clear();
            continue;
        }
        let position = reader.stream_position()?;
        if reader.get_ref().metadata()?.len() < position {
            reader.seek(SeekFrom::Start(0))?;
            pending.clear();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Shows the whole lines `reader` holds up to its end (a line still being
/// written waits in `pending`); false once `show` says stop.
fn read_on(
    reader: &mut BufReader<File>,
    pending: &mut String,
    filter: &Filter,
    show: &mut impl FnMut(&Entry) -> bool,
) -> io::Result<bool> {
    loop {
        if reader.read_line(pending)? == 0 {
            return Ok(true);
        }
        if pending.ends_with('\n') {
            let e = entry(pending.trim_end());
            pending.clear();
            if filter.matches(&e) && !show(&e) {
                return Ok(false);
            }
        }
    }
}

/// The file `path` names now, when it is another than `current` (the log
/// was rotated); `None` while it is the same or not there yet.
fn rotated(path: &Path, current: &File) -> io::Result<Option<File>> {
    let Ok(now) = std::fs::metadata(path) else {
        return Ok(None);
    };
    if now.ino() == current.metadata()?.ino() {
        return Ok(None);
    }
    Ok(File::open(path).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(src: &str, dport: u16, prefix: &str) -> String {
        LogLine {
            time: "t".into(),
            prefix: Some(prefix.into()),
            src: Some(src.into()),
            dst: Some("10.0.0.1".into()),
            proto: Some("tcp".into()),
            dport: Some(dport),
            ..LogLine::default()
        }
        .to_json()
    }

    #[test]
    fn filters_pick_json_and_text_lines_alike() {
        let f = Filter {
            src: Some("10.9.0.0/16".parse().unwrap()),
            port: Some(22),
            ..Filter::default()
        };
        assert!(f.matches(&entry(&json("10.9.1.2", 22, "New: "))));
        assert!(!f.matches(&entry(&json("10.8.1.2", 22, "New: "))));
        assert!(!f.matches(&entry(&json("10.9.1.2", 80, "New: "))));
        let text =
            "t New: IN=eth0 OUT= SRC=10.9.1.2 DST=10.0.0.1 LEN=60 PROTO=TCP SPT=4000 DPT=22 SYN";
        assert!(f.matches(&entry(text)));
        assert!(!f.matches(&entry(&text.replace("DPT=22", "DPT=23"))));
        let p = Filter {
            prefix: Some("New".into()),
            proto: Some("TCP".into()),
            ..Filter::default()
        };
        assert!(p.matches(&entry(&json("1.1.1.1", 1, "New: "))));
        assert!(!p.matches(&entry(&json("1.1.1.1", 1, "Old: "))));
    }

    #[test]
    fn last_keeps_the_newest_matching_lines_and_skips_a_half_written_one() {
        let path = std::env::temp_dir().join(format!("moat-tail-{}", std::process::id()));
        let mut text = String::new();
        for i in 0..10 {
            text.push_str(&json(&format!("10.0.0.{i}"), 22, "p"));
            text.push('\n');
        }
        text.push_str("{\"time\":");
        std::fs::write(&path, &text).unwrap();
        let (lines, offset) = last(&path, &Filter::default(), 3).unwrap();
        let srcs: Vec<String> = lines
            .iter()
            .map(|e| match e {
                Entry::Json(l) => l.src.clone().unwrap(),
                Entry::Text(t) => t.clone(),
            })
            .collect();
        assert_eq!(srcs, ["10.0.0.7", "10.0.0.8", "10.0.0.9"]);
        assert_eq!(offset as usize, text.len() - "{\"time\":".len());
        std::fs::remove_file(&path).unwrap();
    }

    /// Appends `lines` (by source address) to the log at `path`.
    fn write_lines(path: &Path, srcs: std::ops::Range<u8>) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for i in srcs {
            writeln!(f, "{}", json(&format!("10.0.0.{i}"), 22, "x: ")).unwrap();
        }
    }

    #[test]
    fn follow_reads_the_end_of_a_rotated_file_before_the_new_one() {
        let dir = std::env::temp_dir().join(format!("moat-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("packets.jsonl");
        write_lines(&path, 0..2);
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let follower_path = path.clone();
        std::thread::spawn(move || {
            let mut count = 0;
            follow(&follower_path, &Filter::default(), 0, |e| {
                count += 1;
                let src = match e {
                    Entry::Json(l) => l.src.clone().unwrap_or_default(),
                    Entry::Text(t) => t.clone(),
                };
                seen_tx.send(src).is_ok() && count < 9
            })
        });
        let recv = || seen_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let mut seen = vec![recv(), recv()];
        // Written between two looks at the file: three lines, the rotation,
        // four lines in the new file.
        write_lines(&path, 2..5);
        std::fs::rename(&path, dir.join("packets.jsonl.1")).unwrap();
        write_lines(&path, 5..9);
        seen.extend((2..9).map(|_| recv()));
        let expected: Vec<String> = (0..9).map(|i| format!("10.0.0.{i}")).collect();
        assert_eq!(seen, expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
