// Reads typed fields out of a JSON value (from reader.h) and names the path of every problem:
// one DocumentError "file:line: pools[1].members[0].address: reason". The desired-state
// decoders (document.cpp) and gtmd's server settings (gtmd/server_config.cpp) are built on it.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "store/names.h"
#include "store/reader.h"

namespace gtm::store {

// Parses "500ms", "5s", "2m", "1h" or a bare number of seconds. nullopt when malformed.
std::optional<uint64_t> parse_duration_ms(std::string_view text);

// Stateless apart from what it reports with: the document's name and the origins of its values
// (lines, plain scalars as written), which must outlive the decoder. Every getter throws
// DocumentError on a wrong type or value.
class Decoder {
  public:
    using json = nlohmann::json;

    // For JSON without origins (REST bodies, store rows): errors carry no line.
    explicit Decoder(std::string document);
    Decoder(std::string document, const Origins& origins);

    // Throws at the line `path` came from (none when unknown, as for a missing key).
    [[noreturn]] void fail(const std::string& path, const std::string& reason) const;
    // Throws with the line given, for a problem best shown at another key's line.
    [[noreturn]] void fail(const std::string& path, const std::string& reason, int line) const;
    int line_of(const std::string& path) const;

    // Checks `j` is an object holding only `allowed` keys and all of `required`.
    void object(const json& j, const std::string& path, std::initializer_list<const char*> allowed,
                std::initializer_list<const char*> required = {}) const;
    // The value at `key`, or nullptr.
    const json* find(const json& obj, const char* key) const;

    // A string; a plain scalar that YAML read as a number or boolean is taken as written.
    std::string string(const json& v, const std::string& path) const;
    uint64_t integer(const json& v, const std::string& path, uint64_t lo, uint64_t hi) const;
    bool boolean(const json& v, const std::string& path) const;
    // A domain name in canonical form (names.h).
    std::string name(const json& v, const std::string& path) const;
    Address address(const json& v, const std::string& path) const;
    // A duration (parse_duration_ms, or a number of seconds) from lo_ms to hi_ms.
    uint32_t duration_ms(const json& v, const std::string& path, uint64_t lo_ms,
                         uint64_t hi_ms) const;
    // Calls `f(item, "path[i]")` for each item of a list.
    void each(const json& v, const std::string& path,
              const std::function<void(const json&, const std::string&)>& f) const;

    // "null", "a boolean", "a string", "a list", "a mapping" or "a number", for error reasons.
    static std::string type_of(const json& v);

  private:
    static std::string format_ms(uint64_t ms);
    std::string number_text(const json& v, const std::string& path) const;

    std::string document_;
    const Origins& origins_;
};

}  // namespace gtm::store
