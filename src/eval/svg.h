// Inline SVG charts for the HTML report (no script, no external resource): a line chart (series over a
// numeric x axis) and a grouped bar chart (categories × series). Axes with "nice" ticks, a legend, a
// <title> per point/bar for hover text. Colours come from one fixed palette, so a series keeps its colour
// in every chart of a report. Values that are NaN are skipped.
#pragma once
#include <string>
#include <vector>

namespace ecpo::eval {

struct Series {
  std::string name;
  std::vector<double> x, y;  // line charts: points (x[i], y[i]); bar charts: y[i] per category, x unused
};

struct ChartOptions {
  std::string title, x_label, y_label;
  int width = 560, height = 280;
  bool y_from_zero = true;
  std::string id;  // element id of the <svg>
};

std::string svg_line_chart(const std::vector<Series>& series, const ChartOptions& o);
std::string svg_bar_chart(const std::vector<std::string>& categories, const std::vector<Series>& series,
                          const ChartOptions& o);

// Tick values covering [lo, hi] (the first at or below lo, the last at or above hi) in steps of 1, 2 or 5 × 10^k,
// about `n` of them.
std::vector<double> nice_ticks(double lo, double hi, int n = 5);

// The palette colour of series i.
const char* series_colour(std::size_t i);

}  // namespace ecpo::eval
