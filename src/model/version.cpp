// libtorch version string for `ecpo --version` (includes only the torch version header).
#include "model/version.h"

#include <torch/version.h>

namespace ecpo::model {
std::string torch_version() { return TORCH_VERSION; }
}  // namespace ecpo::model
