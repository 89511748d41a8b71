// A plain-text table printer for CLI summaries and bench/ programs: columns sized to content,
// numbers right-aligned. No colours, so output pastes cleanly into notes.
#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace ecpo {

class Table {
 public:
  explicit Table(std::vector<std::string> header);
  Table& row(std::vector<std::string> cells);
  std::string str() const;
  void print(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace ecpo
