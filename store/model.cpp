#include "store/model.h"

#include "store/errors.h"

namespace gtm::store {

const char* to_string(MonitorType t) {
    switch (t) {
        case MonitorType::Http:
            return "http";
        case MonitorType::Https:
            return "https";
        case MonitorType::Tcp:
            return "tcp";
        case MonitorType::Promql:
            return "promql";
    }
    return "?";
}

const char* to_string(AdminState s) {
    switch (s) {
        case AdminState::Auto:
            return "auto";
        case AdminState::Up:
            return "up";
        case AdminState::Drain:
            return "drain";
        case AdminState::Down:
            return "down";
    }
    return "?";
}

const char* to_string(WhenAllDown w) {
    switch (w) {
        case WhenAllDown::FailOpen:
            return "fail_open";
        case WhenAllDown::FailClosed:
            return "fail_closed";
        case WhenAllDown::Fallback:
            return "fallback";
    }
    return "?";
}

const char* to_string(Comparison c) {
    switch (c) {
        case Comparison::Gt:
            return ">";
        case Comparison::Ge:
            return ">=";
        case Comparison::Lt:
            return "<";
        case Comparison::Le:
            return "<=";
        case Comparison::Eq:
            return "==";
        case Comparison::Ne:
            return "!=";
    }
    return "?";
}

const char* to_string(NoData n) {
    switch (n) {
        case NoData::Unknown:
            return "unknown";
        case NoData::Up:
            return "up";
        case NoData::Down:
            return "down";
    }
    return "?";
}

std::string to_string(const Combine& c) {
    switch (c.mode) {
        case CombineMode::All:
            return "all";
        case CombineMode::Any:
            return "any";
        case CombineMode::Quorum:
            return "quorum " + std::to_string(c.quorum);
    }
    return "?";
}

std::optional<AdminState> admin_state_from(std::string_view s) {
    for (AdminState a : {AdminState::Auto, AdminState::Up, AdminState::Drain, AdminState::Down}) {
        if (s == to_string(a)) {
            return a;
        }
    }
    return std::nullopt;
}

namespace {
std::string format_error(const std::string& document, const std::string& path,
                         const std::string& reason, int line) {
    // Appended piece by piece: GCC 12 at -O3 warns (-Wrestrict, a false positive) about
    // `":" + std::to_string(line)`.
    std::string s = document;
    if (line > 0) {
        s.append(":").append(std::to_string(line));
    }
    s.append(": ");
    if (!path.empty()) {
        s.append(path).append(": ");
    }
    s.append(reason);
    return s;
}
}  // namespace

DocumentError::DocumentError(std::string document, std::string path, std::string reason, int line)
    : std::runtime_error(format_error(document, path, reason, line)),
      document_(std::move(document)),
      path_(std::move(path)),
      reason_(std::move(reason)),
      line_(line) {}

}  // namespace gtm::store
