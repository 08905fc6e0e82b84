// Checks that a decoded desired state is consistent as a whole: references resolve, names are
// unique, zone data is legal DNS. Fills Zone::parsed.
#pragma once

#include <string>

#include "store/model.h"

namespace gtm::store {

// Throws DocumentError (document, path, reason) on the first problem found.
void validate(DesiredState& state, const std::string& document);

}  // namespace gtm::store
