// Reports the libtorch version ecpo's model engine was built against (torch-free header).
#pragma once
#include <string>

namespace ecpo::model {
std::string torch_version();
}
