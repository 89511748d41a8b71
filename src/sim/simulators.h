// Constructors of the concrete user simulators, used by make_user_simulator (user-sim.cpp) and tests.
// Each lives in its own file: agenda.cpp, ailo.cpp (ailo and ailo-fused), ievalm.cpp.
#pragma once
#include <memory>

#include "sim/user-sim.h"

namespace ecpo::sim {

std::unique_ptr<UserSimulator> make_agenda_user(TaskView task, SimOptions options);
std::unique_ptr<UserSimulator> make_ailo_user(TaskView task, SimRoles roles, SimOptions options, bool fused);
std::unique_ptr<UserSimulator> make_ievalm_user(TaskView task, SimRoles roles, SimOptions options);

}  // namespace ecpo::sim
