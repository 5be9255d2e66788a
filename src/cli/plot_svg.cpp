// SVG charts; see plot_svg.h.
#include "cli/plot_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.h"
#include "core/fs.h"

namespace mc::cli {

namespace {

// Layout in SVG user units (px).
constexpr double kWidth = 760.0;
constexpr double kPanelHeight = 220.0;
constexpr double kMarginLeft = 70.0, kMarginRight = 150.0, kMarginTop = 40.0, kPanelGap = 40.0, kMarginBottom = 50.0;
// A colour-blind-safe qualitative palette (Okabe & Ito 2008), its yellow last: it is faint on white.
const char* const kColors[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"};

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

std::string tick_label(double v, double step) {
  char b[32];
  if (std::fabs(v) < step * 1e-9) v = 0.0;
  const double a = std::fabs(step);
  if (a >= 1.0 && std::fabs(v) < 1e6)
    std::snprintf(b, sizeof b, "%.0f", v);
  else if (a >= 1e-3 && std::fabs(v) < 1e6)
    std::snprintf(b, sizeof b, "%.*f", static_cast<int>(std::ceil(-std::log10(a))), v);
  else
    std::snprintf(b, sizeof b, "%.2g", v);
  return b;
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(std::isfinite(lo) && std::isfinite(hi))) return {};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    const double d = lo == 0.0 ? 1.0 : std::fabs(lo) * 0.1;
    lo -= d;
    hi += d;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::floor(lo / step) * step; v <= hi + step * 0.5 && t.size() < 100; v += step) t.push_back(v);
  return t;
}

std::string svg_render(const Plot& plot) {
  const size_t np = std::max<size_t>(1, plot.panels.size());
  const double height = kMarginTop + static_cast<double>(np) * kPanelHeight +
                        static_cast<double>(np - 1) * kPanelGap + kMarginBottom;
  const double pw = kWidth - kMarginLeft - kMarginRight;
  std::string o;
  o += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kWidth) + "\" height=\"" + num(height) +
       "\" viewBox=\"0 0 " + num(kWidth) + " " + num(height) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o += "<text x=\"" + num(kWidth / 2) + "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" + esc(plot.title) +
       "</text>\n";

  // Shared x range.
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo;
  for (const auto& p : plot.panels)
    for (const auto& s : p.series)
      for (double x : s.x)
        if (std::isfinite(x)) {
          xlo = std::min(xlo, x);
          xhi = std::max(xhi, x);
        }
  if (!std::isfinite(xlo)) xlo = 0.0, xhi = 1.0;
  const bool any_bars = std::any_of(plot.panels.begin(), plot.panels.end(), [](const PlotPanel& p) { return p.bars; });
  const double xpad = any_bars ? 0.5 : (xhi > xlo ? 0.0 : 0.5);
  const double x0 = xlo - xpad;
  const double x1 = (xhi + xpad > x0) ? xhi + xpad : x0 + 1.0;
  std::vector<double> xt = nice_ticks(xlo, xhi, 10);
  xt.erase(std::remove_if(xt.begin(), xt.end(), [&](double v) { return v < x0 - 1e-9 || v > x1 + 1e-9; }), xt.end());
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1.0;
  auto px = [&](double x) { return kMarginLeft + (x - x0) / (x1 - x0) * pw; };

  for (size_t ip = 0; ip < plot.panels.size(); ++ip) {
    const PlotPanel& p = plot.panels[ip];
    const double top = kMarginTop + static_cast<double>(ip) * (kPanelHeight + kPanelGap);
    const double bottom = top + kPanelHeight;
    double ylo = std::numeric_limits<double>::infinity(), yhi = -ylo;
    for (const auto& s : p.series)
      for (double y : s.y)
        if (std::isfinite(y)) {
          ylo = std::min(ylo, y);
          yhi = std::max(yhi, y);
        }
    if (!std::isfinite(ylo)) ylo = 0.0, yhi = 1.0;
    if (p.bars) ylo = std::min(ylo, 0.0);
    std::vector<double> yt = nice_ticks(ylo, yhi, 5);
    const double y0 = yt.empty() ? ylo : std::min(ylo, yt.front());
    const double y1 = yt.empty() ? yhi : std::max(yhi, yt.back());
    const double yspan = y1 > y0 ? y1 - y0 : 1.0;
    auto py = [&](double y) { return bottom - (y - y0) / yspan * kPanelHeight; };
    const double ystep = yt.size() > 1 ? yt[1] - yt[0] : 1.0;

    o += "<g>\n";
    o += "<rect x=\"" + num(kMarginLeft) + "\" y=\"" + num(top) + "\" width=\"" + num(pw) + "\" height=\"" +
         num(kPanelHeight) + "\" fill=\"none\" stroke=\"#444\"/>\n";
    for (double v : yt) {
      o += "<line x1=\"" + num(kMarginLeft) + "\" x2=\"" + num(kMarginLeft + pw) + "\" y1=\"" + num(py(v)) +
           "\" y2=\"" + num(py(v)) + "\" stroke=\"#ddd\"/>\n";
      o += "<text x=\"" + num(kMarginLeft - 6) + "\" y=\"" + num(py(v) + 4) + "\" text-anchor=\"end\">" +
           esc(tick_label(v, ystep)) + "</text>\n";
    }
    for (double v : xt) {
      o += "<line x1=\"" + num(px(v)) + "\" x2=\"" + num(px(v)) + "\" y1=\"" + num(bottom) + "\" y2=\"" +
           num(bottom + 4) + "\" stroke=\"#444\"/>\n";
      o += "<text x=\"" + num(px(v)) + "\" y=\"" + num(bottom + 16) + "\" text-anchor=\"middle\">" +
           esc(tick_label(v, xstep)) + "</text>\n";
    }
    o += "<text transform=\"translate(" + num(16) + "," + num((top + bottom) / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + esc(p.y_label) + "</text>\n";

    for (size_t is = 0; is < p.series.size(); ++is) {
      const PlotSeries& s = p.series[is];
      const std::string color = kColors[is % (sizeof kColors / sizeof kColors[0])];
      const size_t n = std::min(s.x.size(), s.y.size());
      if (p.bars && is == 0) {
        const double bw = std::max(1.0, 0.8 * pw / std::max(1.0, x1 - x0));
        for (size_t i = 0; i < n; ++i) {
          if (!std::isfinite(s.y[i]) || !std::isfinite(s.x[i])) continue;
          const double ya = py(std::max(s.y[i], 0.0)), yb = py(std::min(s.y[i], 0.0));
          o += "<rect x=\"" + num(px(s.x[i]) - bw / 2) + "\" y=\"" + num(ya) + "\" width=\"" + num(bw) +
               "\" height=\"" + num(std::max(0.5, yb - ya)) + "\" fill=\"" + color + "\"/>\n";
        }
      } else {
        std::string path;
        bool pen = false;
        for (size_t i = 0; i < n; ++i) {
          if (!std::isfinite(s.y[i]) || !std::isfinite(s.x[i])) {
            pen = false;
            continue;
          }
          path += (pen ? " L " : " M ") + num(px(s.x[i])) + " " + num(py(s.y[i]));
          pen = true;
        }
        if (!path.empty())
          o += "<path d=\"" + path.substr(1) + "\" fill=\"none\" stroke=\"" + color + "\" stroke-width=\"1.8\"/>\n";
        for (size_t i = 0; i < n; ++i)
          if (std::isfinite(s.y[i]) && std::isfinite(s.x[i]))
            o += "<circle cx=\"" + num(px(s.x[i])) + "\" cy=\"" + num(py(s.y[i])) + "\" r=\"2.5\" fill=\"" + color +
                 "\"/>\n";
      }
      const double ly = top + 14 + 16 * static_cast<double>(is);
      const double lx = kMarginLeft + pw + 12;
      o += "<rect x=\"" + num(lx) + "\" y=\"" + num(ly - 9) + "\" width=\"12\" height=\"10\" fill=\"" + color + "\"/>\n";
      o += "<text x=\"" + num(lx + 18) + "\" y=\"" + num(ly) + "\">" + esc(s.label) + "</text>\n";
    }
    o += "</g>\n";
  }
  const double last_bottom = kMarginTop + static_cast<double>(np) * kPanelHeight + static_cast<double>(np - 1) * kPanelGap;
  o += "<text x=\"" + num(kMarginLeft + pw / 2) + "\" y=\"" + num(last_bottom + 36) + "\" text-anchor=\"middle\">" +
       esc(plot.x_label) + "</text>\n";
  o += "</svg>\n";
  return o;
}

void svg_write(const std::string& path, const Plot& plot, bool force) {
  if (path_exists(path) && !force) throw Error("plot", path + ": exists (use --force to replace it)");
  write_file_atomic(path, svg_render(plot), "plot");
}

}  // namespace mc::cli
