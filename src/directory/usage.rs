//! Usage metrics: reported events in, the anonymized daily export out.
//! The server's own workflows are counted by the store, in the transaction
//! of each change (see `crate::metrics`).

use serde_json::Value;
use time::Date;

use super::accounts::Ctx;
use super::permissions::may;
use super::{Directory, Error, Result};
use crate::metrics::{self, DayRange};

impl Directory {
    /// The export document for the UTC days `from..=to` (at most
    /// [`metrics::MAX_DAYS`]).
    pub async fn metrics_export(&self, ctx: &Ctx, from: Date, to: Date) -> Result<Value> {
        ctx.require(may::EXPORT_METRICS)?;
        let range = DayRange { from, to };
        if to < from || range.len() > metrics::MAX_DAYS {
            return Err(bad(format!(
                "a metrics range covers 1 to {} days",
                metrics::MAX_DAYS
            )));
        }
        let counts = self.store.usage(from, to).await?;
        Ok(metrics::export(range, self.now(), &counts))
    }

    /// Today (UTC), by the directory's clock.
    pub fn today(&self) -> Date {
        self.now().to_offset(time::UtcOffset::UTC).date()
    }

    /// Counts a report of workflows done elsewhere and interface touches:
    /// `{"events": [{"name": "data_source.created", "count": 2}, ...]}`
    /// (`count` defaults to 1). Every event is checked before anything is
    /// counted: one bad event refuses the whole report. Nothing about the
    /// caller is kept. Returns how many events were counted.
    pub async fn report_events(&self, ctx: &Ctx, body: &Value) -> Result<usize> {
        ctx.require(may::REPORT_USAGE)?;
        self.count_events(body).await
    }

    /// Counts interface touches (`ui.click.*` events only), as the console
    /// reports them for whoever is signed in: they need no permission, and
    /// nothing about who clicked is kept.
    pub async fn report_ui_events(&self, body: &Value) -> Result<usize> {
        let only_ui = body["events"].as_array().is_some_and(|a| {
            a.iter().all(|e| {
                e["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(metrics::UI_PREFIX))
            })
        });
        if !only_ui {
            return Err(bad("Only ui.click.* events are reported here."));
        }
        self.count_events(body).await
    }

    async fn count_events(&self, body: &Value) -> Result<usize> {
        let limits = &self.limits;
        let Some(events) = body.get("events").and_then(Value::as_array) else {
            return Err(bad(
                "the body must be {\"events\": [{\"name\": ..., \"count\": n}]}",
            ));
        };
        if events.is_empty() || events.len() > limits.metrics_max_events {
            return Err(bad(format!(
                "a report carries 1 to {} events",
                limits.metrics_max_events
            )));
        }
        let mut counts = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            let Some(obj) = e.as_object() else {
                return Err(bad(format!("events[{i}] is not an object")));
            };
            if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "name" | "count")) {
                // Identifiers have no place in a report: refuse rather than
                // silently drop what the caller meant to send.
                return Err(bad(format!(
                    "events[{i}] has an unknown member {:?} (only name and count)",
                    truncate(k)
                )));
            }
            let Some(name) = obj.get("name").and_then(Value::as_str) else {
                return Err(bad(format!("events[{i}].name must be a string")));
            };
            metrics::check_event_name(name, &limits.metrics_event_prefixes)
                .map_err(|m| bad(format!("events[{i}]: {m}")))?;
            let count = match obj.get("count") {
                None => 1,
                Some(c) => match c.as_u64() {
                    Some(n) if (1..=limits.metrics_max_count).contains(&n) => n,
                    _ => {
                        return Err(bad(format!(
                            "events[{i}].count must be a whole number from 1 to {}",
                            limits.metrics_max_count
                        )));
                    }
                },
            };
            counts.push((name.to_owned(), count as i64));
        }
        self.store.add_usage(self.today(), &counts).await?;
        Ok(counts.len())
    }
}

fn bad(detail: impl Into<String>) -> Error {
    Error::invalid_value(detail)
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
