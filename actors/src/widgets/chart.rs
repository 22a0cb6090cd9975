//! [`Chart`]: bar, area and line charts over rows of data.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

component! {
    /// A chart (`Chart`): `data` rows, one [`Series`] per plotted field, and
    /// the x axis (a field name or an [`XAxisConfig`]).
    ///
    /// ```
    /// use chatkit_actors::widgets::{Chart, Series};
    /// use serde_json::json;
    ///
    /// let chart = Chart::new("m")
    ///     .row(json!({"m": "Jan", "v": 1}))
    ///     .series(Series::bar("v").label("Value"));
    /// assert_eq!(
    ///     serde_json::to_string(&chart).unwrap(),
    ///     concat!(
    ///         r#"{"type":"Chart","data":[{"m":"Jan","v":1}],"#,
    ///         r#""series":[{"type":"bar","label":"Value","dataKey":"v"}],"xAxis":"m"}"#
    ///     )
    /// );
    /// ```
    Chart = "Chart" {
        /// The rows: objects mapping field names to strings or numbers.
        data: Vec<Value> [req],
        /// The plotted series.
        series: Vec<Series> [req],
        /// The x axis: a field name or an [`XAxisConfig`].
        x_axis: Value [req],
        /// Show the y axis.
        show_y_axis: bool [opt],
        /// Show a legend.
        show_legend: bool [opt],
        /// Show a tooltip on hover.
        show_tooltip: bool [opt],
        /// Gap between bars of one category, in px.
        bar_gap: i64 [opt],
        /// Gap between bar categories, in px.
        bar_category_gap: i64 [opt],
        /// Flex grow/shrink factor.
        flex: Value [int],
        /// Height: px or a CSS string.
        height: Value [int],
        /// Width.
        width: Value [int],
        /// Width and height.
        size: Value [int],
        /// Minimum height.
        min_height: Value [int],
        /// Minimum width.
        min_width: Value [int],
        /// Minimum width and height.
        min_size: Value [int],
        /// Maximum height.
        max_height: Value [int],
        /// Maximum width.
        max_width: Value [int],
        /// Maximum width and height.
        max_size: Value [int],
        /// Aspect ratio of the plot: a number or a CSS string.
        aspect_ratio: Value [float],
    }
}

impl Chart {
    /// An empty chart whose x axis is `x_axis` (a field name, or an
    /// [`XAxisConfig`]).
    pub fn new(x_axis: impl Into<Value>) -> Self {
        Self {
            x_axis: x_axis.into(),
            ..Self::default()
        }
    }

    /// Appends a data row (an object).
    pub fn row(mut self, row: impl Into<Value>) -> Self {
        self.data.push(row.into());
        self
    }

    /// Appends a series.
    pub fn series(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }
}

/// How a [`Series`] is drawn: its `type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKind {
    /// Bars (may be stacked).
    #[default]
    Bar,
    /// A filled area (may be stacked, may be curved).
    Area,
    /// A line (may be curved).
    Line,
}

impl super::common::Skip for SeriesKind {
    fn skip(&self) -> bool {
        false
    }
}

props! {
    /// One plotted field of a [`Chart`]:
    /// `{type, label?, dataKey, stack?, color?, curveType?}`.
    Series {
        /// Bar, area or line.
        #[serde(rename = "type")]
        kind: SeriesKind [req],
        /// Legend label.
        label: String [opt],
        /// The field of each row holding the value.
        data_key: String [req],
        /// Stack group (bar and area).
        stack: String [opt],
        /// A chart color token, a CSS color or a `ThemeColor`.
        color: Value [opt],
        /// Interpolation (area and line): `linear`, `monotone`, `step`, ...
        curve_type: String [opt],
    }
}

impl Series {
    /// A series of `kind` plotting field `data_key`.
    pub fn new(kind: SeriesKind, data_key: impl Into<String>) -> Self {
        Self {
            kind,
            data_key: data_key.into(),
            ..Self::default()
        }
    }

    /// A bar series.
    pub fn bar(data_key: impl Into<String>) -> Self {
        Self::new(SeriesKind::Bar, data_key)
    }

    /// An area series.
    pub fn area(data_key: impl Into<String>) -> Self {
        Self::new(SeriesKind::Area, data_key)
    }

    /// A line series.
    pub fn line(data_key: impl Into<String>) -> Self {
        Self::new(SeriesKind::Line, data_key)
    }
}

props! {
    /// The x axis of a [`Chart`] as an object: `{dataKey, hide?, labels?}`.
    XAxisConfig {
        /// The field of each row giving the category.
        data_key: String [req],
        /// Hide the axis line, ticks and labels.
        hide: bool [opt],
        /// Display labels by tick value.
        labels: Map<String, Value> [opt],
    }
}

impl XAxisConfig {
    /// An axis over field `data_key`.
    pub fn new(data_key: impl Into<String>) -> Self {
        Self {
            data_key: data_key.into(),
            ..Self::default()
        }
    }
}

into_value!(XAxisConfig);
