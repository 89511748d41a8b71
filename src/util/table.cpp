// Table printer (see table.h).
#include "util/table.h"

#include <algorithm>
#include <sstream>

#include "util/text.h"

namespace ecpo {
namespace {
bool numeric(const std::string& s) {
  if (s.empty()) return false;
  return s.find_first_not_of("0123456789.-+eE%x×,") == std::string::npos;
}
}  // namespace

Table::Table(std::vector<std::string> header) : header_(std::move(header)) {}

Table& Table::row(std::vector<std::string> cells) {
  cells.resize(header_.size());
  rows_.push_back(std::move(cells));
  return *this;
}

std::string Table::str() const {
  std::vector<std::size_t> w(header_.size());
  for (std::size_t c = 0; c < header_.size(); ++c) {
    w[c] = utf8_length(header_[c]);
    for (const auto& r : rows_) w[c] = std::max(w[c], utf8_length(r[c]));
  }
  std::ostringstream out;
  auto line = [&](const std::vector<std::string>& cells, bool header) {
    out << "|";
    for (std::size_t c = 0; c < cells.size(); ++c) {
      std::size_t pad = w[c] - utf8_length(cells[c]);
      out << ' ';
      if (!header && numeric(cells[c])) out << std::string(pad, ' ') << cells[c];
      else out << cells[c] << std::string(pad, ' ');
      out << " |";
    }
    out << "\n";
  };
  line(header_, true);
  out << "|";
  for (std::size_t c = 0; c < w.size(); ++c) out << std::string(w[c] + 2, '-') << "|";
  out << "\n";
  for (const auto& r : rows_) line(r, false);
  return out.str();
}

void Table::print(std::ostream& out) const { out << str(); }

}  // namespace ecpo
