//! An acquirer's journal (the sandbox's, and `portcullis acquirer-sim`'s):
//! one JSON line per event, appended and flushed with `sync_data` before the
//! call that caused it returns, and read back when the acquirer starts, so
//! that its memory survives a crash. Generic over the event type.
//!
//! A crash in the middle of an append can leave a damaged last line (cut
//! short, or never terminated). Replay ignores it and truncates the file to
//! the last whole line, so the next append starts on a clean line; the call
//! that wrote it never returned, so nobody was told about it. A damaged line
//! *followed by* good ones is not a torn write but corruption: replay refuses.
//! The journal holds no card number or CVC (events carry last4 and brand).

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Why the sandbox could not open or replay its journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A damaged line that is not the last one: not a torn write.
    #[error("journal {}: line {line_number} is damaged and is not the last line", path.display())]
    Corrupt { path: PathBuf, line_number: u64 },
}

/// An open journal, positioned to append.
#[derive(Debug)]
pub struct Journal {
    file: File,
}

impl Journal {
    /// Opens (or creates) the journal at `path` and returns it with the
    /// events it holds, oldest first.
    pub fn open<E: DeserializeOwned>(path: &Path) -> Result<(Journal, Vec<E>), JournalError> {
        let io_error = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let existed = path.try_exists().map_err(io_error)?;
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(path).map_err(io_error)?;
        owner_only(&file).map_err(io_error)?;
        if !existed {
            sync_parent_directory(path).map_err(io_error)?;
        }
        let replay = read_events(&file, path)?;
        let file_len = file.metadata().map_err(io_error)?.len();
        if replay.whole_len < file_len {
            tracing::warn!(
                path = %path.display(),
                line_number = replay.lines_whole + 1,
                bytes_dropped = file_len - replay.whole_len,
                "journal ends with a torn line (a crash mid-write); ignoring it"
            );
            file.set_len(replay.whole_len).map_err(io_error)?;
            file.sync_data().map_err(io_error)?;
        }
        Ok((Journal { file }, replay.events))
    }

    /// Appends `events` as lines to `buffer`, for [`Journal::write_synced`].
    pub fn encode<E: Serialize>(events: &[E], buffer: &mut Vec<u8>) -> io::Result<()> {
        for event in events {
            serde_json::to_writer(&mut *buffer, event)?;
            buffer.push(b'\n');
        }
        Ok(())
    }

    /// Writes whole encoded lines (of any number of calls: a group commit)
    /// in one write, and waits until they are on disk. On an error the
    /// caller must stop appending, as for [`Journal::append`].
    pub fn write_synced(&mut self, lines: &[u8]) -> io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        self.file.write_all(lines)?;
        self.file.sync_data()
    }

    #[cfg(test)]
    /// Appends the events, one line each, in one write, and waits until they
    /// are on disk. On an error the file may hold part of the write: the
    /// caller must stop appending (replay drops a torn last line).
    pub(crate) fn append<E: Serialize>(&mut self, events: &[E]) -> io::Result<()> {
        let mut buffer = Vec::new();
        for event in events {
            serde_json::to_writer(&mut buffer, event)?;
            buffer.push(b'\n');
        }
        self.file.write_all(&buffer)?;
        self.file.sync_data()
    }
}

struct Replay<E> {
    events: Vec<E>,
    /// Whole, valid lines read.
    lines_whole: u64,
    /// Bytes of those lines: everything before a torn last line.
    whole_len: u64,
}

fn read_events<E: DeserializeOwned>(file: &File, path: &Path) -> Result<Replay<E>, JournalError> {
    let mut reader = BufReader::new(file);
    let mut replay = Replay {
        events: Vec::new(),
        lines_whole: 0,
        whole_len: 0,
    };
    let mut damaged_line_number: Option<u64> = None;
    let mut line = Vec::new();
    let mut line_number: u64 = 0;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|source| JournalError::Io {
                path: path.to_owned(),
                source,
            })?;
        if read == 0 {
            return Ok(replay);
        }
        line_number += 1;
        if let Some(line_number) = damaged_line_number {
            return Err(JournalError::Corrupt {
                path: path.to_owned(),
                line_number,
            });
        }
        match parse_line(&line) {
            Some(event) => {
                replay.events.push(event);
                replay.lines_whole += 1;
                replay.whole_len += read as u64;
            }
            None => damaged_line_number = Some(line_number),
        }
    }
}

/// The event on a whole line (ending in a newline), or None if the line is
/// cut short or not an event.
fn parse_line<E: DeserializeOwned>(line: &[u8]) -> Option<E> {
    let text = line.strip_suffix(b"\n")?;
    serde_json::from_slice(text).ok()
}

/// Makes a newly created file's directory entry durable.
fn sync_parent_directory(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

/// Makes the journal readable by its owner only (0600), also when an
/// older build created it 0644: it records every payment made (masked).
fn owner_only(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let _ = file;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::book::Event;
    use super::*;

    fn voided(reference: &str) -> Event {
        Event::Voided {
            reference: reference.to_owned(),
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_journal_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let path = dir.path().join("journal.jsonl");
        drop(Journal::open::<Event>(&path).unwrap());
        assert_eq!(mode(&path), 0o600);
        // One an older build left readable by all is tightened on open.
        let old = dir.path().join("old.jsonl");
        std::fs::write(&old, "").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(Journal::open::<Event>(&old).unwrap());
        assert_eq!(mode(&old), 0o600);
    }

    #[test]
    fn appended_events_are_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let (mut journal, events) = Journal::open::<Event>(&path).unwrap();
        assert!(events.is_empty());
        journal.append(&[voided("a"), voided("b")]).unwrap();
        journal.append(&[voided("c")]).unwrap();
        drop(journal);
        let (_, events) = Journal::open::<Event>(&path).unwrap();
        assert_eq!(events, vec![voided("a"), voided("b"), voided("c")]);
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_appending_resumes_on_a_clean_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let (mut journal, _) = Journal::open::<Event>(&path).unwrap();
        journal.append(&[voided("a")]).unwrap();
        drop(journal);
        let whole = std::fs::read(&path).unwrap();
        for torn in [
            &b"{\"event\":\"voided\",\"refer"[..],
            b"{\"event\":\"vo\n",
            b"\0\0\0",
        ] {
            let mut bytes = whole.clone();
            bytes.extend_from_slice(torn);
            std::fs::write(&path, &bytes).unwrap();
            let (mut journal, events) = Journal::open::<Event>(&path).unwrap();
            assert_eq!(events, vec![voided("a")]);
            assert_eq!(std::fs::read(&path).unwrap(), whole, "truncated");
            journal.append(&[voided("b")]).unwrap();
            drop(journal);
            let (_, events) = Journal::open::<Event>(&path).unwrap();
            assert_eq!(events, vec![voided("a"), voided("b")]);
            std::fs::write(&path, &whole).unwrap();
        }
    }

    #[test]
    fn a_damaged_line_before_good_ones_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        std::fs::write(
            &path,
            "{\"event\":\"voided\",\"reference\":\"a\"}\nnot json\n{\"event\":\"voided\",\"reference\":\"b\"}\n",
        )
        .unwrap();
        match Journal::open::<Event>(&path) {
            Err(JournalError::Corrupt { line_number, .. }) => assert_eq!(line_number, 2),
            other => panic!("expected corruption, got {other:?}"),
        }
    }
}
