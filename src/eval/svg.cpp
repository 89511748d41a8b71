// Inline SVG charts (see svg.h).
#include "eval/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "eval/html.h"

namespace ecpo::eval {

namespace {

constexpr int kLeft = 56, kRight = 16, kTop = 34, kBottom = 52;

std::string num(double v) {
  char b[48];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

std::string tick_label(double v) {
  char b[48];
  if (std::fabs(v) >= 1000) return fmt_count(v);
  if (v == std::floor(v)) std::snprintf(b, sizeof b, "%.0f", v);
  else if (std::fabs(v) >= 1) std::snprintf(b, sizeof b, "%.1f", v);
  else std::snprintf(b, sizeof b, "%.2g", v);
  return b;
}

struct Frame {
  double x0, x1, y0, y1;
  int w, h;
  double px(double x) const { return kLeft + (x1 > x0 ? (x - x0) / (x1 - x0) : 0.5) * (w - kLeft - kRight); }
  double py(double y) const { return h - kBottom - (y1 > y0 ? (y - y0) / (y1 - y0) : 0.5) * (h - kTop - kBottom); }
};

std::string open_svg(const ChartOptions& o) {
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\"";
  if (!o.id.empty()) s += " id=\"" + html_escape(o.id) + "\"";
  s += " width=\"" + std::to_string(o.width) + "\" height=\"" + std::to_string(o.height) + "\" viewBox=\"0 0 " +
       std::to_string(o.width) + " " + std::to_string(o.height) + "\">";
  s += "<title>" + html_escape(o.title) + "</title>";
  s += "<text x=\"" + std::to_string(o.width / 2) + "\" y=\"18\" text-anchor=\"middle\" class=\"ct\">" + html_escape(o.title) + "</text>";
  return s;
}

std::string y_axis(const Frame& f, const std::vector<double>& ticks, const ChartOptions& o) {
  std::string s;
  for (double t : ticks) {
    const double y = f.py(t);
    s += "<line x1=\"" + num(kLeft) + "\" x2=\"" + num(f.w - kRight) + "\" y1=\"" + num(y) + "\" y2=\"" + num(y) +
         "\" class=\"grid\"/>";
    s += "<text x=\"" + num(kLeft - 6) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\" class=\"tick\">" +
         html_escape(tick_label(t)) + "</text>";
  }
  s += "<line x1=\"" + num(kLeft) + "\" x2=\"" + num(kLeft) + "\" y1=\"" + num(kTop) + "\" y2=\"" + num(f.h - kBottom) +
       "\" class=\"axis\"/>";
  s += "<line x1=\"" + num(kLeft) + "\" x2=\"" + num(f.w - kRight) + "\" y1=\"" + num(f.h - kBottom) + "\" y2=\"" +
       num(f.h - kBottom) + "\" class=\"axis\"/>";
  if (!o.y_label.empty())
    s += "<text transform=\"translate(14," + num((kTop + f.h - kBottom) / 2.0) + ") rotate(-90)\" text-anchor=\"middle\" class=\"al\">" +
         html_escape(o.y_label) + "</text>";
  if (!o.x_label.empty())
    s += "<text x=\"" + num((kLeft + f.w - kRight) / 2.0) + "\" y=\"" + num(f.h - 22) + "\" text-anchor=\"middle\" class=\"al\">" +
         html_escape(o.x_label) + "</text>";
  return s;
}

std::string legend(const std::vector<Series>& series, int width, int height) {
  std::string s;
  double x = kLeft;
  const double y = height - 8;
  for (std::size_t i = 0; i < series.size(); ++i) {
    s += "<rect x=\"" + num(x) + "\" y=\"" + num(y - 9) + "\" width=\"10\" height=\"10\" fill=\"" + series_colour(i) + "\"/>";
    s += "<text x=\"" + num(x + 14) + "\" y=\"" + num(y) + "\" class=\"lg\">" + html_escape(series[i].name) + "</text>";
    x += 24 + 7.0 * static_cast<double>(series[i].name.size());
    if (x > width - 60) break;
  }
  return s;
}

void y_range(const std::vector<Series>& series, bool from_zero, double& lo, double& hi) {
  lo = std::numeric_limits<double>::infinity();
  hi = -lo;
  for (const auto& s : series)
    for (double v : s.y)
      if (!std::isnan(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (from_zero) lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
  if (hi == lo) hi = lo + 1;
}

}  // namespace

const char* series_colour(std::size_t i) {
  static const char* p[] = {"#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e", "#9498a0"};
  return p[i % 10];
}

std::vector<double> nice_ticks(double lo, double hi, int n) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(1, n);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  // From the last multiple of step at or below lo to the first at or above hi; each tick computed as k·step
  // (no accumulated error) and rounded to the step's precision.
  const long first = static_cast<long>(std::floor(lo / step + 1e-9)), last = static_cast<long>(std::ceil(hi / step - 1e-9));
  const double q = std::pow(10.0, std::max(0.0, -std::floor(std::log10(step))) + 2);
  std::vector<double> t;
  for (long k = first; k <= last; ++k) t.push_back(std::round(static_cast<double>(k) * step * q) / q);
  return t;
}

std::string svg_line_chart(const std::vector<Series>& series, const ChartOptions& o) {
  double lo, hi;
  y_range(series, o.y_from_zero, lo, hi);
  auto ticks = nice_ticks(lo, hi);
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo;
  for (const auto& s : series)
    for (double v : s.x) xlo = std::min(xlo, v), xhi = std::max(xhi, v);
  if (!std::isfinite(xlo)) xlo = 0, xhi = 1;
  Frame f{xlo, xhi, ticks.front(), std::max(ticks.back(), hi), o.width, o.height};
  std::string s = open_svg(o) + y_axis(f, ticks, o);
  for (double t : nice_ticks(xlo, xhi, 6)) {
    if (t < xlo - 1e-9 || t > xhi + 1e-9) continue;
    s += "<text x=\"" + num(f.px(t)) + "\" y=\"" + num(o.height - kBottom + 16) + "\" text-anchor=\"middle\" class=\"tick\">" +
         html_escape(tick_label(t)) + "</text>";
  }
  for (std::size_t i = 0; i < series.size(); ++i) {
    std::string pts;
    std::string dots;
    const auto& sr = series[i];
    for (std::size_t k = 0; k < std::min(sr.x.size(), sr.y.size()); ++k) {
      if (std::isnan(sr.y[k])) continue;
      pts += (pts.empty() ? "" : " ") + num(f.px(sr.x[k])) + "," + num(f.py(sr.y[k]));
      if (sr.x.size() <= 60)
        dots += "<circle cx=\"" + num(f.px(sr.x[k])) + "\" cy=\"" + num(f.py(sr.y[k])) + "\" r=\"3\" fill=\"" +
                series_colour(i) + "\"><title>" + html_escape(sr.name) + ": " + tick_label(sr.x[k]) + " → " +
                fmt_num(sr.y[k], 3) + "</title></circle>";
    }
    s += "<polyline fill=\"none\" stroke=\"" + std::string(series_colour(i)) + "\" stroke-width=\"2\" points=\"" + pts + "\"/>" + dots;
  }
  s += legend(series, o.width, o.height) + "</svg>";
  return s;
}

std::string svg_bar_chart(const std::vector<std::string>& cats, const std::vector<Series>& series, const ChartOptions& o) {
  double lo, hi;
  y_range(series, true, lo, hi);
  auto ticks = nice_ticks(lo, hi);
  Frame f{0, 1, ticks.front(), std::max(ticks.back(), hi), o.width, o.height};
  std::string s = open_svg(o) + y_axis(f, ticks, o);
  const double plot_w = o.width - kLeft - kRight;
  const double group_w = cats.empty() ? plot_w : plot_w / static_cast<double>(cats.size());
  const double bar_w = std::max(2.0, group_w * 0.8 / std::max<std::size_t>(1, series.size()));
  for (std::size_t c = 0; c < cats.size(); ++c) {
    const double gx = kLeft + group_w * static_cast<double>(c) + group_w * 0.1;
    for (std::size_t i = 0; i < series.size(); ++i) {
      if (c >= series[i].y.size() || std::isnan(series[i].y[c])) continue;
      const double v = series[i].y[c];
      const double y = f.py(std::max(v, 0.0)), y0 = f.py(std::min(v, 0.0));
      s += "<rect x=\"" + num(gx + bar_w * static_cast<double>(i)) + "\" y=\"" + num(y) + "\" width=\"" + num(bar_w - 1) +
           "\" height=\"" + num(std::max(0.5, y0 - y)) + "\" fill=\"" + series_colour(i) + "\"><title>" +
           html_escape(series[i].name + " · " + cats[c] + ": " + fmt_num(v, 3)) + "</title></rect>";
    }
    s += "<text x=\"" + num(gx + group_w * 0.4) + "\" y=\"" + num(o.height - kBottom + 16) +
         "\" text-anchor=\"middle\" class=\"tick\">" + html_escape(cats[c]) + "</text>";
  }
  s += legend(series, o.width, o.height) + "</svg>";
  return s;
}

}  // namespace ecpo::eval
