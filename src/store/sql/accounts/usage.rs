//! Usage counts reported by applications, per UTC day and name. A day is
//! bound and read as its `YYYY-MM-DD` text (a date column in PostgreSQL).

use super::super::{Backend, Bind, Record, SqlStore, Ty, query};
use crate::store::accounts::Usage;
use crate::store::{Result, StoreError};
use async_trait::async_trait;

const DAY: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

#[async_trait]
impl<B: Backend> Usage for SqlStore<B> {
    async fn add_usage(&self, day: time::Date, counts: &[(String, i64)]) -> Result<()> {
        let d = B::DIALECT;
        // Each PostgreSQL connection adds to its own shard row: concurrent
        // reporters never wait on one counter row.
        let sql = format!(
            "INSERT INTO usage_counts (day, name, shard, n)
             SELECT {}, t.name, {}, SUM(t.n) FROM {} WHERE true GROUP BY t.name
             ON CONFLICT (day, name, shard) DO UPDATE SET n = usage_counts.n + excluded.n",
            d.day(1),
            d.counter_shard(),
            d.rows(2, &[("name", Ty::Text), ("n", Ty::Int)])
        );
        let names = counts.iter().map(|(name, _)| Some(name.clone())).collect();
        let ns = counts.iter().map(|(_, n)| *n).collect();
        self.write_one(
            query(sql)
                .bind(day_text(day))
                .bind(Bind::Columns(vec![Bind::Texts(names), Bind::Ints(ns)])),
        )
        .await?;
        Ok(())
    }

    async fn usage(
        &self,
        from: time::Date,
        to: time::Date,
    ) -> Result<Vec<(time::Date, String, i64)>> {
        let d = B::DIALECT;
        let sql = format!(
            "SELECT {}, name, CAST(SUM(n) AS BIGINT) FROM usage_counts WHERE day BETWEEN {} AND {}
             GROUP BY day, name ORDER BY day, name",
            d.day_text("day"),
            d.day(1),
            d.day(2)
        );
        let rows = self
            .scaled_all(query(sql).bind(day_text(from)).bind(day_text(to)))
            .await?;
        rows.iter()
            .map(|r| {
                let day = r.text(0)?;
                let day = time::Date::parse(&day, DAY)
                    .map_err(|e| StoreError::Corrupt(format!("usage day {day}: {e}")))?;
                Ok((day, r.text(1)?, r.int(2)?))
            })
            .collect()
    }
}

fn day_text(day: time::Date) -> String {
    day.format(DAY).unwrap_or_default()
}
