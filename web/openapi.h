// The OpenAPI 3 description of /api/v1, served at /api/v1/openapi.json.
#pragma once

#include <nlohmann/json.hpp>

namespace gtm::web {

const nlohmann::json& openapi_document();

}  // namespace gtm::web
