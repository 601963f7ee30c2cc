//! tracing-subscriber's default text lines without colours (the `pretty`
//! log format when stderr is not a terminal, as under a service manager),
//! written piece by piece: its own formatter writes each piece through the
//! formatting machinery, painted with empty styles, and escapes a message
//! one character at a time. With colours, tracing-subscriber writes them.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultFields, DefaultVisitor, Format, Full, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::from_log_crate;

/// tracing-subscriber's `Format<Full>` lines: `timestamp LEVEL
/// span{fields}:span{fields}: target: fields`.
pub struct TextLines<T> {
    timer: T,
    stock: Format<Full, T>,
}

impl<T: FormatTime + Clone> TextLines<T> {
    pub fn new(timer: T) -> Self {
        TextLines {
            stock: tracing_subscriber::fmt::format().with_timer(timer.clone()),
            timer,
        }
    }
}

impl<S, N, T> FormatEvent<S, N> for TextLines<T>
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
        if writer.has_ansi_escapes() || from_log_crate(event) {
            return self.stock.format_event(ctx, writer, event);
        }
        let meta = event.metadata();
        if self.timer.format_time(&mut writer).is_err() {
            writer.write_str("<unknown time>")?;
        }
        writer.write_char(' ')?;
        writer.write_str(level(meta.level()))?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                seen = true;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// The level as tracing-subscriber pads it, with the space after it.
fn level(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE ",
        Level::DEBUG => "DEBUG ",
        Level::INFO => " INFO ",
        Level::WARN => " WARN ",
        Level::ERROR => "ERROR ",
    }
}

/// tracing-subscriber's `DefaultFields`: `message` first as it was
/// written, then `name=value` (a value's `Debug`), separated by spaces.
/// With colours, and for errors (which list their sources), its own
/// visitor writes them.
#[derive(Clone, Copy, Default)]
pub struct TextFields;

impl<'w> FormatFields<'w> for TextFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        if writer.has_ansi_escapes() {
            return DefaultFields::new().format_fields(writer, fields);
        }
        let mut visitor = TextVisitor {
            sanitize: writer.sanitizes_ansi_escapes(),
            writer,
            is_empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct TextVisitor<'w> {
    writer: Writer<'w>,
    sanitize: bool,
    is_empty: bool,
    result: fmt::Result,
}

impl TextVisitor<'_> {
    /// Whether to write a field: not after an error, and not the `log`
    /// crate's metadata (already in the line).
    fn writes(&self, field: &Field) -> bool {
        self.result.is_ok() && !field.name().starts_with("log.")
    }

    fn pad(&mut self) -> fmt::Result {
        if self.is_empty {
            self.is_empty = false;
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }

    /// `name=` (a raw identifier's without its `r#`).
    fn name(&mut self, field: &Field) -> fmt::Result {
        let name = field.name();
        self.writer
            .write_str(name.strip_prefix("r#").unwrap_or(name))?;
        self.writer.write_char('=')
    }

    /// A field: the message as `message` writes it, any other as its
    /// name and `value`.
    fn field(&mut self, field: &Field, message: fmt::Arguments<'_>, value: fmt::Arguments<'_>) {
        if !self.writes(field) {
            return;
        }
        self.result = self.pad().and_then(|()| {
            if field.name() == "message" {
                self.message(message)
            } else {
                self.name(field)?;
                self.writer.write_fmt(value)
            }
        });
    }

    fn message(&mut self, text: fmt::Arguments<'_>) -> fmt::Result {
        if self.sanitize {
            Escaping(&mut self.writer).write_fmt(text)
        } else {
            self.writer.write_fmt(text)
        }
    }
}

impl Visit for TextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, format_args!("{value}"), format_args!("{value:?}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_debug(field, &value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_debug(field, &value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.record_debug(field, &value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if !self.writes(field) {
            return;
        }
        let mut theirs = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        theirs.record_error(field, value);
        self.is_empty = false;
        self.result = tracing_subscriber::field::VisitOutput::finish(theirs);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, format_args!("{value:?}"), format_args!("{value:?}"));
    }
}

/// Writes text with the control characters a terminal acts on escaped, as
/// tracing-subscriber escapes messages: ESC, BEL, BS, FF and DEL as `\xNN`,
/// C1 controls as `\u{NN}`. Runs without any are written whole.
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some((at, c)) = rest.char_indices().find(|&(_, c)| escaped(c)) {
            self.0.write_str(&rest[..at])?;
            match c {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                c => write!(self.0, "\\u{{{:x}}}", c as u32)?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

fn escaped(c: char) -> bool {
    matches!(
        c,
        '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::testing::{Fixed, assert_same, events, logged};

    /// What `emit` logs through tracing-subscriber's text format and
    /// through ours, with colours or without.
    fn both(ansi: bool, emit: impl Fn()) -> (String, String) {
        let theirs = logged(|b| b.with_ansi(ansi).with_timer(Fixed).finish(), &emit);
        let ours = logged(
            |b| {
                b.with_ansi(ansi)
                    .fmt_fields(TextFields)
                    .event_format(TextLines::new(Fixed))
                    .finish()
            },
            &emit,
        );
        (theirs, ours)
    }

    #[test]
    fn text_lines_are_tracing_subscribers_own() {
        for ansi in [false, true] {
            let (theirs, ours) = both(ansi, events);
            assert_same(&theirs, &ours);
        }
    }

    #[test]
    fn escaping_leaves_runs_whole() {
        let mut out = String::new();
        Escaping(&mut out)
            .write_str("a\u{1b}[31mb\u{85}é\u{7f}")
            .unwrap();
        assert_eq!(out, "a\\x1b[31mb\\u{85}é\\x7f");
    }
}
