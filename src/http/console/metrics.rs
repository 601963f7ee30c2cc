//! Metrics: a bar chart of daily workflow counts (an SVG drawn here, last
//! 30 days by default), the counts by workflow, the "Download metrics"
//! dialog (the JSON export of the last N days), and the console's own
//! interface touches reported as anonymous `ui.click.<element>` events.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;

use super::{Chrome, ConsoleError, Page, Who, html};
use crate::http::AppState;
use crate::metrics::DayRange;

pub const DEFAULT_DAYS: i64 = 30;

/// One bar: a day and its workflow total, placed on the chart, with its
/// value written above it (read without hovering).
struct Bar {
    date: String,
    /// The day as the axis writes it (01-31).
    short: String,
    total: i64,
    x: u32,
    y: u32,
    height: u32,
    label: bool,
}

impl Bar {
    fn middle(&self, bar_width: &u32) -> u32 {
        self.x + bar_width / 2
    }
}

/// A value on the y axis and its height.
struct Tick {
    value: i64,
    y: u32,
}

/// The chart's geometry (SVG user units): the plot sits right of the y
/// axis's values, under room for the bars' own values, over the dates.
const WIDTH: u32 = 900;
const HEIGHT: u32 = 280;
const LEFT: u32 = 56;
const RIGHT: u32 = 8;
const TOP: u32 = 24;
const BOTTOM: u32 = 44;

/// A round step for about four ticks up to `max` (1, 2, 5 × 10ⁿ).
fn tick_step(max: i64) -> i64 {
    let raw = (max as f64 / 4.0).max(1.0);
    let magnitude = 10f64.powi(raw.log10().floor() as i32);
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    (step as i64).max(1)
}

#[derive(Template)]
#[template(path = "console/metrics.html")]
struct MetricsPage {
    c: Chrome,
    days: i64,
    from: String,
    to: String,
    bars: Vec<Bar>,
    bar_width: u32,
    max: i64,
    axis_y: u32,
    left: u32,
    right_x: u32,
    ticks: Vec<Tick>,
    workflows: Vec<(String, i64)>,
    ui: Vec<(String, i64)>,
    dialog: bool,
    width: u32,
    height: u32,
}

#[derive(Deserialize, Default)]
pub struct Params {
    days: Option<String>,
    dialog: Option<String>,
}

fn days(p: &Params) -> Result<i64, ConsoleError> {
    match p.days.as_deref().filter(|d| !d.is_empty()) {
        None => Ok(DEFAULT_DAYS),
        Some(d) => d
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=crate::metrics::MAX_DAYS).contains(d))
            .ok_or_else(|| {
                ConsoleError::Status(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "The number of days is a whole number from 1 to {}.",
                        crate::metrics::MAX_DAYS
                    ),
                )
            }),
    }
}

fn counts(v: &Value) -> impl Iterator<Item = (&String, i64)> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, n)| (k, n.as_i64().unwrap_or(0)))
}

fn sorted(map: std::collections::BTreeMap<String, i64>) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

pub async fn page(State(s): State<AppState>, who: Who, Query(p): Query<Params>) -> Page {
    let days = days(&p)?;
    let range = DayRange::last(days, s.dir.today())
        .map_err(|m| ConsoleError::Status(StatusCode::BAD_REQUEST, m))?;
    let doc = s
        .dir
        .metrics_export(&who.admin.ctx(), range.from, range.to)
        .await?;
    let day_list = doc["days"].as_array().cloned().unwrap_or_default();
    let mut workflows = std::collections::BTreeMap::new();
    let mut ui = std::collections::BTreeMap::new();
    let totals: Vec<(String, i64)> = day_list
        .iter()
        .map(|d| {
            for (k, n) in counts(&d["workflows"]) {
                *workflows.entry(k.clone()).or_insert(0) += n;
            }
            for (k, n) in counts(&d["ui"]) {
                *ui.entry(k.clone()).or_insert(0) += n;
            }
            let total = counts(&d["workflows"]).map(|(_, n)| n).sum();
            (d["date"].as_str().unwrap_or("").to_owned(), total)
        })
        .collect();
    let max = totals.iter().map(|t| t.1).max().unwrap_or(0).max(1);
    // The axis reaches the first round value at or above the highest bar.
    let step = tick_step(max);
    let top = max.div_euclid(step) * step + if max % step == 0 { 0 } else { step };
    let n = totals.len().max(1) as u32;
    let slot = (WIDTH - LEFT - RIGHT) / n;
    let bar_width = (slot * 7 / 10).max(1);
    let plot = HEIGHT - TOP - BOTTOM;
    let scale = |v: i64| ((v as f64 / top as f64) * plot as f64).round() as u32;
    // Dates far enough apart to read (about 12 at most).
    let every = n.div_ceil(12).max(1) as usize;
    let bars = totals
        .into_iter()
        .enumerate()
        .map(|(i, (date, total))| {
            let height = scale(total);
            Bar {
                x: LEFT + i as u32 * slot + (slot - bar_width) / 2,
                y: TOP + plot - height,
                height,
                label: i % every == 0,
                short: date.get(5..).unwrap_or(&date).to_owned(),
                date,
                total,
            }
        })
        .collect();
    let ticks = (0..=top / step)
        .map(|k| Tick {
            value: k * step,
            y: TOP + plot - scale(k * step),
        })
        .collect();
    html(&MetricsPage {
        c: Chrome::new(&who, "metrics"),
        days,
        from: doc["from"].as_str().unwrap_or("").to_owned(),
        to: doc["to"].as_str().unwrap_or("").to_owned(),
        bars,
        bar_width,
        max,
        axis_y: HEIGHT - BOTTOM,
        left: LEFT,
        right_x: WIDTH - RIGHT,
        ticks,
        workflows: sorted(workflows),
        ui: sorted(ui),
        dialog: p.dialog.as_deref() == Some("download"),
        width: WIDTH,
        height: HEIGHT,
    })
}

/// The export of the last N days as a file, as `GET /api/v1/metrics`
/// serves it to API clients.
pub async fn download(State(s): State<AppState>, who: Who, Query(p): Query<Params>) -> Page {
    let range = DayRange::last(days(&p)?, s.dir.today())
        .map_err(|m| ConsoleError::Status(StatusCode::BAD_REQUEST, m))?;
    let doc = s
        .dir
        .metrics_export(&who.admin.ctx(), range.from, range.to)
        .await?;
    let mut resp = axum::Json(doc).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", range.file_name()))
    {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// Interface touches from the console's script: counted as the events
/// endpoint counts them, with nothing about who clicked.
pub async fn ui_events(
    State(s): State<AppState>,
    _who: Who,
    axum::Json(body): axum::Json<Value>,
) -> Page {
    s.dir.report_ui_events(&body).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::tick_step;

    #[test]
    fn ticks_are_round_and_about_four() {
        assert_eq!(tick_step(1), 1);
        assert_eq!(tick_step(4), 1);
        assert_eq!(tick_step(7), 2);
        assert_eq!(tick_step(19), 5);
        assert_eq!(tick_step(100), 50);
        assert_eq!(tick_step(1234), 500);
    }
}
