#include "store/reader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <vector>

namespace gtm::store {

using nlohmann::json;

std::string child_path(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
}

std::string index_path(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
}

namespace {

// YAML 1.2 core schema for plain scalars; quoted scalars are always strings.
json plain_scalar(const std::string& s) {
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
        return nullptr;
    }
    if (s == "true" || s == "True" || s == "TRUE") {
        return true;
    }
    if (s == "false" || s == "False" || s == "FALSE") {
        return false;
    }
    if (s == ".nan" || s == ".NaN" || s == ".NAN") {
        return std::numeric_limits<double>::quiet_NaN();
    }
    if (s == ".inf" || s == "+.inf" || s == ".Inf") {
        return std::numeric_limits<double>::infinity();
    }
    if (s == "-.inf" || s == "-.Inf") {
        return -std::numeric_limits<double>::infinity();
    }
    const char* b = s.data();
    const char* e = s.data() + s.size();
    const char* digits = (*b == '-' || *b == '+') ? b + 1 : b;
    if (digits != e && std::all_of(digits, e, [](char c) { return c >= '0' && c <= '9'; })) {
        int64_t v = 0;
        auto r = std::from_chars(*b == '+' ? b + 1 : b, e, v);
        if (r.ec == std::errc() && r.ptr == e) {
            return v;
        }
        return std::stod(s);  // out of int64 range: still a number, rejected by range checks
    }
    // A float: digits with one dot and/or an exponent, nothing else.
    bool has_digit = false;
    int dots = 0;
    size_t i = (*b == '-' || *b == '+') ? 1 : 0;
    for (; i < s.size(); ++i) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            has_digit = true;
        } else if (c == '.') {
            ++dots;
        } else {
            break;
        }
    }
    if (has_digit && dots <= 1 && i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < s.size() && (s[j] == '-' || s[j] == '+')) {
            ++j;
        }
        bool exp_digits = j < s.size();
        for (; j < s.size(); ++j) {
            if (s[j] < '0' || s[j] > '9') {
                exp_digits = false;
            }
        }
        if (exp_digits) {
            return std::stod(s);
        }
    } else if (has_digit && dots == 1 && i == s.size()) {
        return std::stod(s);
    }
    return s;
}

json yaml_to_json(const YAML::Node& node, const std::string& path, Origins& origins,
                  const std::string& document) {
    origins.line[path] = node.Mark().line + 1;
    switch (node.Type()) {
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined:
            return nullptr;
        case YAML::NodeType::Scalar: {
            if (node.Tag() == "!") {
                return node.Scalar();  // quoted: a string
            }
            json v = plain_scalar(node.Scalar());
            if (!v.is_string()) {
                origins.plain[path] = node.Scalar();
            }
            return v;
        }
        case YAML::NodeType::Sequence: {
            json arr = json::array();
            size_t i = 0;
            for (const auto& item : node) {
                arr.push_back(yaml_to_json(item, index_path(path, i), origins, document));
                ++i;
            }
            return arr;
        }
        case YAML::NodeType::Map: {
            json obj = json::object();
            for (const auto& kv : node) {
                if (!kv.first.IsScalar()) {
                    throw DocumentError(document, path, "keys must be plain strings",
                                        kv.first.Mark().line + 1);
                }
                const std::string key = kv.first.Scalar();
                const std::string p = child_path(path, key);
                if (obj.contains(key)) {
                    throw DocumentError(document, p, "duplicate key", kv.first.Mark().line + 1);
                }
                obj[key] = yaml_to_json(kv.second, p, origins, document);
            }
            return obj;
        }
    }
    return nullptr;
}

}  // namespace

// Rejects duplicate keys in JSON objects, which nlohmann would silently overwrite.
json parse_json(std::string_view text, const std::string& document) {
    std::vector<std::set<std::string>> keys;
    std::string duplicate;
    json::parser_callback_t cb = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start:
                keys.emplace_back();
                break;
            case json::parse_event_t::object_end:
                keys.pop_back();
                break;
            case json::parse_event_t::key:
                if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
                    duplicate.empty()) {
                    duplicate = parsed.get<std::string>();
                }
                break;
            default:
                break;
        }
        return true;
    };
    json j;
    try {
        j = json::parse(text.begin(), text.end(), cb);
    } catch (const json::exception& e) {
        throw DocumentError(document, "", std::string("malformed JSON: ") + e.what());
    }
    if (!duplicate.empty()) {
        throw DocumentError(document, "", "duplicate key '" + duplicate + "' in an object");
    }
    return j;
}

json parse_yaml(std::string_view text, const std::string& document, Origins& origins) {
    YAML::Node node;
    try {
        node = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
        throw DocumentError(document, "", "malformed YAML: " + e.msg, e.mark.line + 1);
    }
    if (!node.IsDefined() || node.IsNull()) {
        return json::object();  // an empty document
    }
    return yaml_to_json(node, "", origins, document);
}

json parse_text(std::string_view text, const std::string& document, Origins& origins) {
    size_t first = text.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && text[first] == '{') {
        return parse_json(text, document);
    }
    return parse_yaml(text, document, origins);
}

std::string read_file(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        throw DocumentError(path, "", "is a directory, not a document");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw DocumentError(path, "", std::string("cannot read: ") + std::strerror(errno));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    if (in.bad()) {
        throw DocumentError(path, "", "read error");
    }
    return ss.str();
}

}  // namespace gtm::store
