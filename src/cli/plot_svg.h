// A tiny SVG chart writer for `--plot FILE.svg`: one or more panels stacked vertically that share the
// x axis (the layer index), each with its own y axis, drawing line series (markers at the points,
// gaps at NaN) or bars. Self-contained SVG 1.1, no scripts, no external fonts or styles.
#pragma once
#include <string>
#include <vector>

namespace mc::cli {

struct PlotSeries {
  std::string label;      // legend entry
  std::vector<double> x;  // (n)
  std::vector<double> y;  // (n); NaN/Inf points are skipped and break the line
};

struct PlotPanel {
  std::string y_label;
  std::vector<PlotSeries> series;
  bool bars = false;  // draw the (first) series as bars instead of lines
};

struct Plot {
  std::string title;
  std::string x_label;
  std::vector<PlotPanel> panels;
};

/// The chart as an SVG document.
std::string svg_render(const Plot& plot);

/// "Nice" axis ticks covering [lo, hi]: about `target` ticks at 1, 2 or 5 × 10^k steps.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

/// Writes the SVG atomically. Refuses to replace an existing file unless `force` (mc::Error, exit 1).
void svg_write(const std::string& path, const Plot& plot, bool force);

}  // namespace mc::cli
