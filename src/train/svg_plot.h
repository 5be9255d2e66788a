// Small inline-SVG charts for the training report (report_html.h): line charts on a linear or log10 y
// axis (gaps at NaN, and at non-positive values on a log axis; an optional horizontal reference line)
// and horizontal bar charts with an optional limit line. The output is an <svg> element meant to be
// embedded in an HTML page: no scripts, no external fonts, styles or links, every text escaped.
// (src/cli/plot_svg.h serves the CLI's --plot files; it has no log axis, and train cannot include cli.)
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace mc::train {

/// Escapes & < > " ' as HTML/XML character entities.
std::string html_escape(std::string_view s);

/// A number for display: %.*g with `sig` significant digits; NaN/Inf as "n/a".
std::string fmt_num(double v, int sig = 4);

struct SvgSeries {
  std::string         label;
  std::vector<double> x, y;    // same length; a non-finite point breaks the line
  bool                dashed = false;
  bool                markers = false;  // a dot at every point (sparse series such as eval loss)
  bool                steps = false;    // a step function: the value holds until the next point
};

struct SvgLineChart {
  std::string            title, x_label, y_label;
  bool                   log_y = false;  // log10 axis: values <= 0 are not drawn
  std::vector<SvgSeries> series;
  double                 hline = 0.0;    // a dashed horizontal reference line when finite (NaN: none)
  std::string            hline_label;
  int                    width = 760, height = 300;
};
/// The chart; a panel saying "no data" when no series has a drawable point.
std::string svg_line_chart(const SvgLineChart& chart);

struct SvgBarChart {
  std::string              title, value_label;
  std::vector<std::string> labels;   // one per bar, drawn left of it
  std::vector<double>      values;   // NaN: "n/a", no bar
  double                   limit = 0.0;  // a dashed vertical limit line when finite (NaN: none); bars
                                         // at or past it are drawn in the warning colour
  std::string              limit_label;
  int                      width = 760;
};
/// Horizontal bars, one row per label.
std::string svg_bar_chart(const SvgBarChart& chart);

/// About `target` ticks at 1, 2 or 5 × 10^k steps covering [lo, hi] (first tick <= lo, last >= hi).
std::vector<double> nice_linear_ticks(double lo, double hi, int target = 5);
/// Decade ticks 10^k covering [lo, hi] (lo > 0); 1-2-5 ticks when the range spans fewer than 2 decades.
std::vector<double> log_ticks(double lo, double hi);

}  // namespace mc::train
