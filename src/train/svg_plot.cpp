// Inline SVG line and bar charts for the training report (svg_plot.h).
#include "train/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mc::train {

namespace {

constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
constexpr size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);
constexpr const char* kWarnColor = "#d62728";
constexpr const char* kBarColor = "#1f77b4";
constexpr const char* kFont = "font-family=\"sans-serif\"";

std::string px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

/// Approximate rendered width of a label at 11 px sans-serif.
double text_width(const std::string& s) { return 6.5 * static_cast<double>(s.size()); }

std::string text(double x, double y, const std::string& s, const char* anchor = "start", int size = 11,
                 const std::string& extra = "") {
  return "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\" " + kFont + " font-size=\"" + std::to_string(size) +
         "\" text-anchor=\"" + anchor + "\"" + (extra.empty() ? "" : " " + extra) + ">" + html_escape(s) + "</text>\n";
}

std::string line(double x0, double y0, double x1, double y1, const std::string& stroke, double width = 1,
                 const std::string& extra = "") {
  return "<line x1=\"" + px(x0) + "\" y1=\"" + px(y0) + "\" x2=\"" + px(x1) + "\" y2=\"" + px(y1) + "\" stroke=\"" +
         stroke + "\" stroke-width=\"" + px(width) + "\"" + (extra.empty() ? "" : " " + extra) + "/>\n";
}

std::string svg_open(int w, int h, const std::string& title) {
  return "<svg class=\"chart\" width=\"" + std::to_string(w) + "\" height=\"" + std::to_string(h) + "\" viewBox=\"0 0 " +
         std::to_string(w) + " " + std::to_string(h) + "\" role=\"img\" aria-label=\"" + html_escape(title) + "\">\n" +
         "<rect x=\"0\" y=\"0\" width=\"" + std::to_string(w) + "\" height=\"" + std::to_string(h) +
         "\" fill=\"#ffffff\"/>\n";
}

/// The largest 1-2-5 × 10^k value <= v (v > 0), or the smallest >= v when `up`.
double nice125(double v, bool up) {
  const double e = std::floor(std::log10(v));
  const double m = std::pow(10.0, e);
  const double mant[] = {1, 2, 5, 10};
  if (up) {
    for (double f : mant)
      if (f * m >= v * (1 - 1e-12)) return f * m;
    return 10 * m;
  }
  double best = m;
  for (double f : mant)
    if (f * m <= v * (1 + 1e-12)) best = f * m;
  return best;
}

}  // namespace

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string fmt_num(double v, int sig) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", sig, v);
  return buf;
}

std::vector<double> nice_linear_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {0.0, 1.0};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    const double d = lo != 0 ? std::fabs(lo) * 0.1 : 1.0;
    lo -= d;
    hi += d;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  const double step = (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * mag;
  const double start = std::floor(lo / step + 1e-9) * step;
  const double end = std::ceil(hi / step - 1e-9) * step;
  std::vector<double> ticks;
  for (int k = 0; k <= 1000; ++k) {
    double t = start + k * step;
    if (std::fabs(t) < step * 1e-9) t = 0.0;
    ticks.push_back(t);
    if (t >= end - step * 1e-9) break;
  }
  return ticks;
}

std::vector<double> log_ticks(double lo, double hi) {
  if (!(lo > 0) || !std::isfinite(lo) || !std::isfinite(hi)) return {1.0, 10.0};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    lo /= 2;
    hi *= 2;
  }
  const double dlo = nice125(lo, false), dhi = nice125(hi, true);
  std::vector<double> all;
  for (double e = std::floor(std::log10(dlo)); e <= std::ceil(std::log10(dhi)); e += 1)
    for (double f : {1.0, 2.0, 5.0}) {
      const double t = f * std::pow(10.0, e);
      if (t >= dlo * (1 - 1e-12) && t <= dhi * (1 + 1e-12)) all.push_back(t);
    }
  if (all.size() <= 9) return all;
  std::vector<double> decades{dlo};
  for (double t : all) {
    const double e = std::log10(t);
    if (std::fabs(e - std::round(e)) < 1e-9 && t > dlo * (1 + 1e-12) && t < dhi * (1 - 1e-12)) decades.push_back(t);
  }
  decades.push_back(dhi);
  return decades;
}

std::string svg_line_chart(const SvgLineChart& c) {
  const double W = c.width, H = c.height;
  const double x0 = 72, x1 = W - 16, y0 = 48, y1 = H - 44;
  auto drawable = [&](double x, double y) { return std::isfinite(x) && std::isfinite(y) && (!c.log_y || y > 0); };
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const SvgSeries& s : c.series)
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
      if (drawable(s.x[i], s.y[i])) {
        xmin = std::min(xmin, s.x[i]);
        xmax = std::max(xmax, s.x[i]);
        ymin = std::min(ymin, s.y[i]);
        ymax = std::max(ymax, s.y[i]);
      }
  std::string out = svg_open(c.width, c.height, c.title);
  out += text(x0, 18, c.title, "start", 13, "font-weight=\"bold\"");
  if (!(xmin <= xmax)) {
    out += text((x0 + x1) / 2, (y0 + y1) / 2, "no data", "middle", 12, "fill=\"#777777\"");
    return out + "</svg>\n";
  }
  const bool has_h = std::isfinite(c.hline) && (!c.log_y || c.hline > 0);
  if (has_h) {
    ymin = std::min(ymin, c.hline);
    ymax = std::max(ymax, c.hline);
  }
  const std::vector<double> xt = nice_linear_ticks(xmin, xmax, 6);
  const std::vector<double> yt = c.log_y ? log_ticks(ymin, ymax) : nice_linear_ticks(ymin, ymax, 5);
  const double xlo = xt.front(), xhi = xt.back(), ylo = yt.front(), yhi = yt.back();
  auto sx = [&](double x) { return x0 + (x - xlo) / (xhi - xlo) * (x1 - x0); };
  auto sy = [&](double y) {
    const double f = c.log_y ? (std::log10(y) - std::log10(ylo)) / (std::log10(yhi) - std::log10(ylo))
                             : (y - ylo) / (yhi - ylo);
    return y1 - f * (y1 - y0);
  };
  // grid, axes and tick labels
  for (double t : yt) {
    out += line(x0, sy(t), x1, sy(t), "#e4e4e4");
    out += text(x0 - 6, sy(t) + 4, fmt_num(t, 4), "end", 10);
  }
  for (double t : xt) {
    out += line(sx(t), y1, sx(t), y1 + 4, "#333333");
    out += text(sx(t), y1 + 16, fmt_num(t, 6), "middle", 10);
  }
  out += "<rect x=\"" + px(x0) + "\" y=\"" + px(y0) + "\" width=\"" + px(x1 - x0) + "\" height=\"" + px(y1 - y0) +
         "\" fill=\"none\" stroke=\"#333333\"/>\n";
  out += text((x0 + x1) / 2, H - 8, c.x_label, "middle", 11);
  out += text(14, (y0 + y1) / 2, c.y_label + (c.log_y ? " (log scale)" : ""), "middle", 11,
              "transform=\"rotate(-90 14 " + px((y0 + y1) / 2) + ")\"");
  if (has_h) {
    out += line(x0, sy(c.hline), x1, sy(c.hline), "#555555", 1, "stroke-dasharray=\"6 4\"");
    if (!c.hline_label.empty()) out += text(x1 - 4, sy(c.hline) - 4, c.hline_label, "end", 10, "fill=\"#555555\"");
  }
  // series and legend
  double lx = x0;
  for (size_t k = 0; k < c.series.size(); ++k) {
    const SvgSeries& s = c.series[k];
    const std::string color = kPalette[k % kPaletteSize];
    const std::string dash = s.dashed ? " stroke-dasharray=\"5 3\"" : "";
    std::string path, dots;
    const size_t n = std::min(s.x.size(), s.y.size());
    size_t run = 0;  // points in the current segment
    double prev_y = 0;
    for (size_t i = 0; i < n; ++i) {
      const bool ok = drawable(s.x[i], s.y[i]);
      const bool isolated = ok && run == 0 && (i + 1 >= n || !drawable(s.x[i + 1], s.y[i + 1]));
      if (ok) {
        if (s.steps && run > 0) path += "L" + px(sx(s.x[i])) + " " + px(prev_y) + " ";
        path += (run == 0 ? "M" : "L") + px(sx(s.x[i])) + " " + px(sy(s.y[i])) + " ";
        prev_y = sy(s.y[i]);
        if (s.markers || isolated)
          dots += "<circle cx=\"" + px(sx(s.x[i])) + "\" cy=\"" + px(sy(s.y[i])) + "\" r=\"2.5\" fill=\"" + color + "\"/>\n";
        ++run;
      } else {
        run = 0;
      }
    }
    out += "<g class=\"series\" data-label=\"" + html_escape(s.label) + "\">\n";
    if (!path.empty())
      out += "<path d=\"" + path + "\" fill=\"none\" stroke=\"" + color + "\" stroke-width=\"1.5\"" + dash + "/>\n";
    out += dots + "</g>\n";
    out += line(lx, 34, lx + 18, 34, color, 2, dash.empty() ? "" : dash.substr(1));
    out += text(lx + 22, 38, s.label, "start", 11);
    lx += 34 + text_width(s.label);
  }
  return out + "</svg>\n";
}

std::string svg_bar_chart(const SvgBarChart& c) {
  const size_t n = std::min(c.labels.size(), c.values.size());
  constexpr double kRow = 18, kBar = 12, kTop = 44, kBottom = 40;
  constexpr size_t kMaxLabel = 48;
  std::vector<std::string> shown(n);
  double widest = 0;
  for (size_t i = 0; i < n; ++i) {
    shown[i] = c.labels[i].size() > kMaxLabel ? "..." + c.labels[i].substr(c.labels[i].size() - (kMaxLabel - 3))
                                              : c.labels[i];
    widest = std::max(widest, text_width(shown[i]));
  }
  const double W = c.width;
  const double x0 = std::clamp(widest + 14, 80.0, W * 0.5), x1 = W - 64;
  const double H = kTop + kRow * static_cast<double>(std::max<size_t>(n, 1)) + kBottom;
  std::string out = svg_open(c.width, static_cast<int>(H), c.title);
  out += text(8, 18, c.title, "start", 13, "font-weight=\"bold\"");
  double vmax = 0;
  for (size_t i = 0; i < n; ++i)
    if (std::isfinite(c.values[i])) vmax = std::max(vmax, c.values[i]);
  const bool has_limit = std::isfinite(c.limit);
  if (has_limit) vmax = std::max(vmax, c.limit);
  if (!(vmax > 0)) vmax = 1;
  const std::vector<double> xt = nice_linear_ticks(0, vmax * 1.02, 5);
  const double xhi = xt.back();
  auto sx = [&](double v) { return x0 + std::clamp(v, 0.0, xhi) / xhi * (x1 - x0); };
  const double yb = kTop + kRow * static_cast<double>(std::max<size_t>(n, 1));
  for (double t : xt) {
    out += line(sx(t), kTop - 4, sx(t), yb, "#e4e4e4");
    out += text(sx(t), yb + 14, fmt_num(t, 4), "middle", 10);
  }
  out += text((x0 + x1) / 2, yb + 32, c.value_label, "middle", 11);
  if (n == 0) out += text((x0 + x1) / 2, kTop + 12, "no data", "middle", 12, "fill=\"#777777\"");
  for (size_t i = 0; i < n; ++i) {
    const double y = kTop + kRow * static_cast<double>(i);
    const double v = c.values[i];
    out += "<g class=\"bar\">\n<title>" + html_escape(c.labels[i]) + ": " + html_escape(fmt_num(v, 6)) + "</title>\n";
    out += text(x0 - 6, y + kBar - 1, shown[i], "end", 11);
    if (std::isfinite(v)) {
      const char* color = has_limit && v >= c.limit ? kWarnColor : kBarColor;
      out += "<rect x=\"" + px(x0) + "\" y=\"" + px(y + 1) + "\" width=\"" + px(std::max(0.0, sx(v) - x0)) +
             "\" height=\"" + px(kBar) + "\" fill=\"" + color + "\"/>\n";
    }
    out += text(sx(std::isfinite(v) ? v : 0) + 4, y + kBar - 1, fmt_num(v, 3), "start", 10);
    out += "</g>\n";
  }
  out += line(x0, kTop - 4, x0, yb, "#333333");
  if (has_limit) {
    out += line(sx(c.limit), kTop - 8, sx(c.limit), yb, kWarnColor, 1.5, "stroke-dasharray=\"6 4\"");
    out += text(sx(c.limit), kTop - 12, c.limit_label, "middle", 10, std::string("fill=\"") + kWarnColor + "\"");
  }
  return out + "</svg>\n";
}

}  // namespace mc::train
