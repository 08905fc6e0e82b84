// The gtmd command line (DESIGN.md "Interfaces"). Kept in its own translation unit: CLI11 is
// slow to compile.
#pragma once

#include "gtmd/server_config.h"

namespace gtm::dns {

// Fills `cfg` from --config (if given) and then the flags, which win. Returns -1 to go on, or
// the exit code (0 after --help/--version, 2 on a usage or config error, already reported).
int parse_command_line(int argc, char** argv, ServerConfig& cfg);

}  // namespace gtm::dns
