//! tracing-subscriber's JSON lines and span fields, written straight into
//! one buffer: its own formatter writes through a UTF-8 check per fragment
//! and parses every span's stored fields to write them again (~36,000
//! instructions for a response's line; this ~5,600).

use std::fmt;

use serde::Serializer as _;
use serde::ser::SerializeMap;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::from_log_crate;

/// tracing-subscriber's JSON lines (`.json().with_current_span(true)
/// .with_span_list(true)`, spans' fields formatted by `JsonFields`):
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
        if !from_log_crate(event) {
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

/// tracing-subscriber's `JsonFields`: a span's fields as one JSON object,
/// keys sorted, a key recorded twice keeping its last value, written
/// straight into the span's text instead of through a map of values and a
/// UTF-8 check per fragment. Byte strings, and spans recorded again after
/// they were made, are left to `JsonFields`.
#[derive(Clone, Copy, Default)]
pub struct JsonSpanFields;

impl<'w> FormatFields<'w> for JsonSpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut values = SpanValues::default();
        fields.record(&mut values);
        match values.object() {
            Some(object) => writer.write_str(&object),
            None => JsonFields::new().format_fields(writer, fields),
        }
    }

    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut theirs = FormattedFields::<JsonFields>::new(std::mem::take(&mut current.fields));
        let added = JsonFields::new().add_fields(&mut theirs, fields);
        current.fields = theirs.fields;
        added
    }
}

/// A span's fields as `JsonFields` records them (`None`: one it records
/// otherwise).
#[derive(Default)]
struct SpanValues {
    values: Vec<(&'static str, SpanValue)>,
    unusual: bool,
}

enum SpanValue {
    Text(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl SpanValues {
    /// The JSON object, or None when a field was of a kind left to
    /// `JsonFields`.
    fn object(mut self) -> Option<String> {
        if self.unusual {
            return None;
        }
        // A stable sort keeps the fields of one name in the order they
        // were recorded: the last one is the one kept.
        self.values.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = Vec::with_capacity(128);
        out.push(b'{');
        let mut first = true;
        for (i, (name, value)) in self.values.iter().enumerate() {
            if self.values.get(i + 1).is_some_and(|next| next.0 == *name) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut out, name).ok()?;
            out.push(b':');
            match value {
                SpanValue::Text(t) => serde_json::to_writer(&mut out, t),
                SpanValue::I64(n) => serde_json::to_writer(&mut out, n),
                SpanValue::U64(n) => serde_json::to_writer(&mut out, n),
                SpanValue::F64(n) => serde_json::to_writer(&mut out, n),
                SpanValue::Bool(b) => serde_json::to_writer(&mut out, b),
            }
            .ok()?;
        }
        out.push(b'}');
        String::from_utf8(out).ok()
    }
}

impl Visit for SpanValues {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.values.push((field.name(), SpanValue::F64(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.values.push((field.name(), SpanValue::I64(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.values.push((field.name(), SpanValue::U64(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.values.push((field.name(), SpanValue::Bool(value)));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.values
            .push((field.name(), SpanValue::Text(value.to_owned())));
    }

    fn record_bytes(&mut self, _: &Field, _: &[u8]) {
        self.unusual = true;
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if name.starts_with("log.") {
            return;
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.values
            .push((name, SpanValue::Text(format!("{value:?}"))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::testing::{Fixed, Odd, assert_same, events, logged};

    /// What `emit` logs through tracing-subscriber's JSON format and
    /// through ours.
    fn both(emit: impl Fn()) -> (String, String) {
        let theirs = logged(
            |b| {
                b.json()
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_timer(Fixed)
                    .finish()
            },
            &emit,
        );
        let ours = logged(
            |b| {
                b.fmt_fields(JsonSpanFields)
                    .event_format(JsonLines::new(Fixed))
                    .finish()
            },
            &emit,
        );
        (theirs, ours)
    }

    #[test]
    fn json_lines_are_tracing_subscribers_own() {
        let (theirs, ours) = both(events);
        assert_same(&theirs, &ours);
    }

    #[test]
    fn span_fields_of_every_kind() {
        let (theirs, ours) = both(|| {
            let err = std::io::Error::other("disk \"full\"");
            let span = tracing::info_span!(
                "kinds",
                z = "last key",
                r#type = "raw str",
                r#loop = ?Odd { text: "raw debug" },
                f = 2.5e-8,
                nan = f64::NAN,
                neg = i64::MIN,
                big = u64::MAX,
                yes = true,
                text = %"dis\u{1b}play",
                error = &err as &dyn std::error::Error,
                log.file = ?"skipped",
                dup = 1,
                dup = "two",
            );
            span.in_scope(|| tracing::info!("inside"));
            let bytes = tracing::info_span!("bytes", b = &b"\x00\xff"[..], s = "x");
            bytes.in_scope(|| tracing::info!("bytes are left to tracing-subscriber"));
        });
        assert!(theirs.contains("\"dup\":\"two\""), "{theirs}");
        assert!(theirs.contains("\"b\":[0,255]"), "{theirs}");
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
