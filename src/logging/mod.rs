//! The process's log lines: tracing-subscriber's `pretty` (its default
//! text format) or `json` lines on stderr, byte for byte as tracing-
//! subscriber writes them, written for less. Every response writes one
//! line and opens one span, so their cost is part of every request's: the
//! timestamp's date and time of day are formatted once a second instead of
//! on every line, text lines and fields are written without the generic
//! colour and padding machinery (see `text`), and a JSON line straight into
//! one buffer (see `json`). Tests hold every format to tracing-subscriber's
//! own output; whatever they do not cover (colours, events from the `log`
//! crate) is left to tracing-subscriber.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

use crate::config::LogFormat;

mod json;
mod text;

pub use json::{JsonLines, JsonSpanFields};
pub use text::{TextFields, TextLines};

/// Logs to stderr in `format`, filtered by `SCIM_BRIDGE_LOG` (default:
/// `info,sqlx=warn,tower_http=info`).
pub fn init(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCIM_BRIDGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_timer(Timestamp);
    match format {
        LogFormat::Pretty => fmt
            .fmt_fields(TextFields)
            .event_format(TextLines::new(Timestamp))
            .init(),
        // Each line carries its spans, so a request's lines carry its id.
        LogFormat::Json => fmt
            .fmt_fields(JsonSpanFields)
            .event_format(JsonLines::new(Timestamp))
            .init(),
    }
}

/// An event the `log` crate logged (through tracing-log): its target and
/// fields are normalised by tracing-subscriber, which formats it.
fn from_log_crate(event: &tracing::Event<'_>) -> bool {
    event.metadata().fields().field("log.target").is_some()
}

/// tracing-subscriber's `SystemTime` timestamps (RFC 3339, UTC,
/// microseconds: `2026-12-07T10:39:53.392460Z`), with everything up to
/// the second formatted once a second per thread.
#[derive(Clone, Copy, Default)]
pub struct Timestamp;

/// The second last formatted on this thread, and its text.
struct Second {
    unix: u64,
    text: String,
}

thread_local! {
    static SECOND: RefCell<Option<Second>> = const { RefCell::new(None) };
}

impl FormatTime for Timestamp {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since_epoch) if since_epoch.as_secs() <= LAST_SECOND => {
                write_timestamp(w, since_epoch)
            }
            // Outside years 1970 to 9999: tracing-subscriber knows how.
            _ => tracing_subscriber::fmt::time::SystemTime.format_time(w),
        }
    }
}

/// 9999-12-31T23:59:59Z, the last second `time` formats by default.
const LAST_SECOND: u64 = 253_402_300_799;

fn write_timestamp(w: &mut impl fmt::Write, since_epoch: Duration) -> fmt::Result {
    let unix = since_epoch.as_secs();
    SECOND.with_borrow_mut(|second| {
        let second = match second {
            Some(s) if s.unix == unix => s,
            _ => second.insert(Second {
                unix,
                text: date_and_time(unix)?,
            }),
        };
        w.write_str(&second.text)
    })?;
    let mut digits = *b".000000Z";
    let mut rest = since_epoch.subsec_micros();
    for d in digits[1..7].iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    w.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)
}

/// `YYYY-MM-DDTHH:MM:SS` of a second since the epoch (up to
/// `LAST_SECOND`), as tracing-subscriber writes it.
fn date_and_time(unix: u64) -> Result<String, fmt::Error> {
    let t = i64::try_from(unix)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or(fmt::Error)?;
    let mut text = String::with_capacity(20);
    write!(
        text,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_as_tracing_subscriber_writes_them() {
        let at = |secs: u64, micros: u32| {
            let mut s = String::new();
            write_timestamp(&mut s, Duration::new(secs, micros * 1000 + 999)).unwrap();
            s
        };
        assert_eq!(at(0, 1), "1970-01-01T00:00:00.000001Z");
        assert_eq!(at(1_796_639_993, 392_460), "2026-12-07T10:39:53.392460Z");
        assert_eq!(at(951_782_400, 999_999), "2000-02-29T00:00:00.999999Z");
        assert_eq!(at(LAST_SECOND, 0), "9999-12-31T23:59:59.000000Z");
        // The cached second is replaced when the second changes.
        assert_eq!(at(1, 0), "1970-01-01T00:00:01.000000Z");
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        // And agrees with tracing-subscriber's clock and format now.
        loop {
            let before = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let (mut ours, mut theirs) = (String::new(), String::new());
            Timestamp.format_time(&mut Writer::new(&mut ours)).unwrap();
            tracing_subscriber::fmt::time::SystemTime
                .format_time(&mut Writer::new(&mut theirs))
                .unwrap();
            let after = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            if before != after {
                continue;
            }
            assert_eq!(ours.len(), theirs.len(), "{ours} {theirs}");
            assert_eq!(ours[..20], theirs[..20], "{ours} {theirs}");
            assert!(ours.ends_with('Z'));
            break;
        }
    }
}

/// What the formats' tests share: a fixed clock and a captured output.
#[cfg(test)]
mod testing {
    use std::fmt;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::fmt::format::Writer;
    use tracing_subscriber::fmt::time::FormatTime;

    /// A fixed clock, so that two formatters' lines can be compared.
    #[derive(Clone)]
    pub struct Fixed;

    impl FormatTime for Fixed {
        fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
            w.write_str("2026-12-07T10:39:53.392460Z")
        }
    }

    #[derive(Clone, Default)]
    pub struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    /// A subscriber of every level that writes to `w`, for a test to set
    /// its format.
    pub type Builder = tracing_subscriber::fmt::SubscriberBuilder<
        tracing_subscriber::fmt::format::DefaultFields,
        tracing_subscriber::fmt::format::Format,
        tracing::level_filters::LevelFilter,
        Buffer,
    >;

    /// What `emit` logs through the subscriber `make` sets up.
    pub fn logged<S>(make: impl FnOnce(Builder) -> S, emit: &dyn Fn()) -> String
    where
        S: tracing::Subscriber + Send + Sync + 'static,
    {
        let buffer = Buffer::default();
        let builder = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(buffer.clone());
        tracing::subscriber::with_default(make(builder), emit);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    /// Two formatters' output of [`events`]: the same, line by line.
    pub fn assert_same(theirs: &str, ours: &str) {
        assert_eq!(theirs.lines().count(), 14, "{theirs}");
        for (t, o) in theirs.lines().zip(ours.lines()) {
            assert_eq!(t, o);
        }
        assert_eq!(theirs, ours);
    }

    /// A value only its `Debug` shows.
    #[derive(Debug)]
    pub struct Odd {
        #[allow(dead_code)]
        pub text: &'static str,
    }

    /// An error with a source.
    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("outer \x1b[31m failure")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    /// Events and spans of every kind the formats' tests compare.
    pub fn events() {
        tracing::info!("no span");
        tracing::warn!(
            n = -3,
            u = 7u64,
            b = true,
            f = 1.5,
            nan = f64::NAN,
            "numbers"
        );
        tracing::info!(message = "a message given as a field", other = "x");
        let request = tracing::error_span!(
            "request",
            request_id = %"4f1c-é\"quoted\"",
            method = %"GET",
            route = %"/scim/v2/Users/{id}",
        );
        let _entered = request.enter();
        tracing::info!(latency = %"3 ms", status = 200, "finished processing request");
        tracing::debug!(
            odd = ?Odd { text: "a\nb\t\u{1b}[31m" },
            s = "pl\"ain\u{7}",
            r#type = "raw",
            "control \u{7}\u{1b}[2J\u{8}\u{c}\u{7f}\u{85}\u{9f} chars {}",
            42
        );
        let inner = tracing::info_span!("inner", big = u64::MAX, small = -1i64, empty = "");
        let _inner = inner.enter();
        tracing::trace!(target: "some::target", "nested");
        tracing::info!(parent: &request, "explicit parent");
        tracing::info!(parent: None, "no parent at all");
        let bare = tracing::info_span!("bare");
        let _bare = bare.enter();
        let plain = std::io::Error::other("disk");
        tracing::error!(error = &plain as &dyn std::error::Error, "an error");
        let chained = Outer(std::io::Error::other("inner \u{9b} cause"));
        tracing::error!(
            error = &chained as &dyn std::error::Error,
            after = 1,
            "with sources"
        );
        tracing::info!(log.line = 3, "log. fields are skipped");
        tracing::info!(only = "fields, no message");
        tracing::info!("");
        let late = tracing::info_span!("late", a = 1, b = tracing::field::Empty);
        late.record("b", "two");
        late.record("a", 3);
        late.in_scope(|| tracing::info!("after record"));
    }
}
