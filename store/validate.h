// Checks that a decoded desired state is consistent as a whole: references resolve, names are
// unique, zone data is legal DNS that gtmd serves exactly as it reads back (a zone checker in the
// manner of named-checkzone and kzonecheck). Fills Zone::parsed.
#pragma once

#include <string>
#include <vector>

#include "store/model.h"

namespace gtm::store {

// Something valid that an operator probably did not mean: the state is stored and served as
// written, and the warning is shown beside the result (store/README.md lists every warning).
struct Warning {
    std::string path;     // "balancers[0]", "zones[1].ns[0]": the same paths as errors
    std::string message;  // one sentence, no trailing period
    int line = 0;         // 1-based; 0 when unknown (filled for YAML documents by document.h)

    bool operator==(const Warning&) const = default;
};

// "desired.yaml:12: balancers[0]: warning: message", the shape of an error line.
std::string to_string(const Warning& w, const std::string& document);

// Throws DocumentError (document, path, reason) on the first problem found; returns the
// warnings, in document order, when there is none. Callers that only need the verdict may ignore
// the result; those that answer an operator (the API, --apply, gtmctl) should show it.
std::vector<Warning> validate(DesiredState& state, const std::string& document);

}  // namespace gtm::store
