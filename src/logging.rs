//! The process's log lines: tracing-subscriber's `pretty` (its default
//! text format) or `json` lines on stderr, byte for byte as tracing-
//! subscriber writes them, written for less. Every response writes one
//! line, so its cost is part of every request's: the timestamp's date and
//! time of day are formatted once a second instead of on every line, and a
//! JSON line is written straight into one buffer instead of through a
//! UTF-8 check per fragment and a parse of every span's fields (the tests
//! below hold the output to tracing-subscriber's own).

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serializer as _;
use serde::ser::SerializeMap;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::config::LogFormat;

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
        LogFormat::Pretty => fmt.init(),
        // Each line carries its spans, so a request's lines carry its id.
        LogFormat::Json => fmt
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines::new(Timestamp))
            .init(),
    }
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

/// tracing-subscriber's JSON lines (`.json().with_current_span(true)
/// .with_span_list(true)`, spans' fields formatted by [`JsonFields`]):
/// `{"timestamp","level","fields","target","span","spans"}`. Events from
/// the `log` crate, and spans whose fields are not the JSON object
/// `JsonFields` stores, are left to tracing-subscriber itself.
pub struct JsonLines<T> {
    timer: T,
    stock: Format<Json, T>,
}

impl<T: FormatTime + Clone> JsonLines<T> {
    pub fn new(timer: T) -> Self {
        let stock = tracing_subscriber::fmt::format()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_timer(timer.clone());
        JsonLines { timer, stock }
    }
}

/// Why a line is left to tracing-subscriber (see [`JsonLines`]).
enum Line {
    Unusual,
    Failed,
}

impl From<serde_json::Error> for Line {
    fn from(_: serde_json::Error) -> Self {
        Line::Failed
    }
}

impl From<fmt::Error> for Line {
    fn from(_: fmt::Error) -> Self {
        Line::Failed
    }
}

impl<S, N, T> FormatEvent<S, N> for JsonLines<T>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    T: FormatTime,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if event.metadata().fields().field("log.target").is_none() {
            match self.line(ctx, event) {
                Ok(line) => {
                    let line = std::str::from_utf8(&line).map_err(|_| fmt::Error)?;
                    return writer.write_str(line);
                }
                Err(Line::Failed) => return Err(fmt::Error),
                Err(Line::Unusual) => {}
            }
        }
        self.stock.format_event(ctx, writer, event)
    }
}

impl<T: FormatTime> JsonLines<T> {
    fn line<S, N>(&self, ctx: &FmtContext<'_, S, N>, event: &Event<'_>) -> Result<Vec<u8>, Line>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        let meta = event.metadata();
        let mut timestamp = String::with_capacity(32);
        self.timer.format_time(&mut Writer::new(&mut timestamp))?;
        let mut line = Vec::with_capacity(512);
        line.extend_from_slice(b"{\"timestamp\":");
        json_str(&mut line, &timestamp)?;
        line.extend_from_slice(b",\"level\":\"");
        line.extend_from_slice(level(meta.level()).as_bytes());
        line.extend_from_slice(b"\",\"fields\":");
        let mut fields = serde_json::Serializer::new(&mut line);
        let mut visitor = JsonFieldsOf {
            map: fields.serialize_map(None)?,
            state: Ok(()),
        };
        event.record(&mut visitor);
        visitor.state?;
        visitor.map.end()?;
        line.extend_from_slice(b",\"target\":");
        json_str(&mut line, meta.target())?;
        let current = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(span) = &current {
            line.extend_from_slice(b",\"span\":");
            json_span::<S, N>(&mut line, span)?;
            // As tracing-subscriber does: the list is of the thread's
            // current span's scope, even for an event given its parent.
            line.extend_from_slice(b",\"spans\":[");
            if let Some(leaf) = ctx.lookup_current() {
                for (i, span) in leaf.scope().from_root().enumerate() {
                    if i > 0 {
                        line.push(b',');
                    }
                    json_span::<S, N>(&mut line, &span)?;
                }
            }
            line.push(b']');
        }
        line.extend_from_slice(b"}\n");
        Ok(line)
    }
}

fn level(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

fn json_str(line: &mut Vec<u8>, s: &str) -> Result<(), Line> {
    serde_json::to_writer(line, s).map_err(Line::from)
}

/// A span as tracing-subscriber writes it: its stored fields (a JSON
/// object with sorted keys, which it parses and writes again unchanged),
/// then its name.
fn json_span<S, N>(line: &mut Vec<u8>, span: &SpanRef<'_, S>) -> Result<(), Line>
where
    S: for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    let ext = span.extensions();
    let stored = ext.get::<FormattedFields<N>>().ok_or(Line::Unusual)?;
    let inner = stored
        .fields
        .strip_prefix('{')
        .and_then(|f| f.strip_suffix('}'))
        .ok_or(Line::Unusual)?;
    line.push(b'{');
    line.extend_from_slice(inner.as_bytes());
    if !inner.is_empty() {
        line.push(b',');
    }
    line.extend_from_slice(b"\"name\":");
    json_str(line, span.metadata().name())?;
    line.push(b'}');
    Ok(())
}

/// An event's fields as tracing-serde writes them: each as recorded, in
/// order, numbers and booleans as such, anything else as its `Debug` text.
struct JsonFieldsOf<M: SerializeMap> {
    map: M,
    state: Result<(), M::Error>,
}

impl<M: SerializeMap> JsonFieldsOf<M> {
    fn entry(&mut self, field: &Field, value: &impl serde::Serialize) {
        if self.state.is_ok() {
            self.state = self.map.serialize_entry(field.name(), value);
        }
    }
}

impl<M: SerializeMap> Visit for JsonFieldsOf<M> {
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, &value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.entry(field, &format_args!("{value:?}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, &value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, &value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.entry(field, &value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, &value);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

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

    /// A fixed clock, so that two formatters' lines can be compared.
    #[derive(Clone)]
    struct Fixed;

    impl FormatTime for Fixed {
        fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
            w.write_str("2026-12-07T10:39:53.392460Z")
        }
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

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

    /// What `emit` logs through tracing-subscriber's JSON format and
    /// through ours.
    fn both(emit: impl Fn()) -> (String, String) {
        let (theirs, ours) = (Buffer::default(), Buffer::default());
        let stock = tracing_subscriber::fmt()
            .with_max_level(Level::TRACE)
            .with_writer(theirs.clone())
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_timer(Fixed)
            .finish();
        tracing::subscriber::with_default(stock, &emit);
        let fast = tracing_subscriber::fmt()
            .with_max_level(Level::TRACE)
            .with_writer(ours.clone())
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines::new(Fixed))
            .finish();
        tracing::subscriber::with_default(fast, &emit);
        let text = |b: Buffer| String::from_utf8(b.0.lock().unwrap().clone()).unwrap();
        (text(theirs), text(ours))
    }

    #[derive(Debug)]
    struct Odd {
        #[allow(dead_code)]
        text: &'static str,
    }

    #[test]
    fn json_lines_are_tracing_subscribers_own() {
        let (theirs, ours) = both(|| {
            tracing::info!("no span");
            tracing::warn!(
                n = -3,
                u = 7u64,
                b = true,
                f = 1.5,
                nan = f64::NAN,
                "numbers"
            );
            let request = tracing::error_span!(
                "request",
                request_id = %"4f1c-é\"quoted\"",
                method = %"GET",
                route = %"/scim/v2/Users/{id}",
            );
            let _entered = request.enter();
            tracing::info!(latency = %"3 ms", status = 200, "finished processing request");
            tracing::debug!(odd = ?Odd { text: "a\nb\t\u{1b}[31m" }, s = "plain", "control \u{7} chars");
            let inner = tracing::info_span!("inner", big = u64::MAX, small = -1i64, empty = "");
            let _inner = inner.enter();
            tracing::trace!(target: "some::target", "nested");
            tracing::info!(parent: &request, "explicit parent, other current span");
            let bare = tracing::info_span!("bare");
            let _bare = bare.enter();
            tracing::error!(
                error = &std::io::Error::other("disk") as &dyn std::error::Error,
                "spans without fields"
            );
        });
        assert_eq!(theirs.lines().count(), 7, "{theirs}");
        for (t, o) in theirs.lines().zip(ours.lines()) {
            assert_eq!(t, o);
        }
        assert_eq!(theirs, ours);
    }

    #[test]
    fn a_span_whose_fields_were_recorded_later() {
        let (theirs, ours) = both(|| {
            let span = tracing::info_span!("late", a = 1, b = tracing::field::Empty);
            span.record("b", "two");
            span.in_scope(|| tracing::info!("after record"));
        });
        assert!(theirs.contains("\"b\":\"two\""), "{theirs}");
        assert_eq!(theirs, ours);
    }
}
