#include "store/reader.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
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

// A number as plain_scalar reads it; out of the double's range it is an infinity (never an
// exception): the decoder's range checks refuse it and report it as written.
double to_double(const std::string& s) { return std::strtod(s.c_str(), nullptr); }

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
        return to_double(s);  // out of int64 range: still a number, rejected by range checks
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
            return to_double(s);
        }
    } else if (has_digit && dots == 1 && i == s.size()) {
        return to_double(s);
    }
    return s;
}

std::string bytes_text(size_t n) {
    if (n >= (size_t{1} << 20) && n % (size_t{1} << 20) == 0) {
        return std::to_string(n >> 20) + " MiB";
    }
    return std::to_string(n) + " bytes";
}

void check_size(std::string_view text, const std::string& document) {
    if (text.size() > kMaxDocumentBytes) {
        throw DocumentError(document, "",
                            "the document is " + std::to_string(text.size()) +
                                " bytes, over the limit of " + bytes_text(kMaxDocumentBytes));
    }
}

// Builds the JSON value from yaml-cpp's parser events, so that nothing is expanded before it is
// counted: yaml-cpp's node tree shares an aliased node, and walking that tree expands it as
// often as it is referenced (9 aliases of 9 aliases... of a list: 9^9 values from 400 bytes).
// Here an alias costs what its anchor holds, checked against the budget before it is copied;
// the depth of what it names counts too.
class JsonBuilder final : public YAML::EventHandler {
  public:
    JsonBuilder(const std::string& document, size_t text_bytes, Origins& origins)
        : document_(document),
          origins_(origins),
          max_nodes_(node_budget(text_bytes)),
          max_bytes_(byte_budget(text_bytes)) {}

    bool has_root() const { return has_root_; }
    json take_root() {
        for (auto& e : log_) {
            origins_.line[e.path] = e.line;
            if (e.plain) {
                origins_.plain[e.path] = std::move(e.text);
            }
        }
        return std::move(root_);
    }

    void OnDocumentStart(const YAML::Mark& /*mark*/) override {}
    void OnDocumentEnd() override {}

    void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        if (key_expected()) {
            fail_key(mark);
        }
        const std::string path = value_path();
        const size_t log_begin = log_.size();
        count(1, 0, path, mark);
        log_.push_back({path, line(mark), false, {}});
        json* v = insert(nullptr);
        remember_scalar(anchor, path, log_begin, 1, 0, *v, nullptr);
    }

    void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  const std::string& value) override {
        if (!valid_utf8(value)) {
            const std::string at = key_expected() ? stack_.back().path : value_path();
            throw DocumentError(document_, at, "is not valid UTF-8", line(mark));
        }
        if (key_expected()) {
            take_key(value, mark);
            count(0, value.size(), stack_.back().path, mark);
            if (anchor != YAML::NullAnchor) {
                remember_key(anchor, value);
            }
            return;
        }
        const std::string path = value_path();
        const size_t log_begin = log_.size();
        count(1, value.size(), path, mark);
        json v = tag == "!" ? json(value) : plain_scalar(value);  // "!": quoted, a string
        const bool plain = !v.is_string();
        log_.push_back({path, line(mark), plain, plain ? value : std::string()});
        json* inserted = insert(std::move(v));
        remember_scalar(anchor, path, log_begin, 1, value.size(), *inserted, &value);
    }

    void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        if (anchor >= anchors_.size() || !anchors_[anchor].done) {
            const std::string at = key_expected() ? stack_.back().path : value_path();
            throw DocumentError(document_, at, "an alias cannot refer to a node that contains it",
                                line(mark));
        }
        const Anchored& a = anchors_[anchor];
        if (key_expected()) {
            if (!a.key) {
                fail_key(mark);
            }
            take_key(*a.key, mark);
            count(0, a.key->size(), stack_.back().path, mark);
            return;
        }
        const std::string path = value_path();
        if (stack_.size() + a.depth > kMaxDepth) {
            fail_depth(path, mark);
        }
        count(a.nodes, a.bytes, path, mark);
        // Copied only now that the budget holds it; the anchor's lines come along.
        json copy = a.object != nullptr   ? json(*a.object)
                    : a.array != nullptr  ? json(*a.array)
                    : a.string != nullptr ? json(*a.string)
                                          : a.scalar;
        for (size_t i = a.log_begin; i < a.log_end; ++i) {
            Entry e = log_[i];
            e.path = path + e.path.substr(a.path.size());
            log_.push_back(std::move(e));
        }
        insert(std::move(copy));
    }

    void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                         YAML::EmitterStyle::value /*style*/) override {
        open(mark, anchor, json::array());
    }
    void OnSequenceEnd() override { close(); }
    void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                    YAML::EmitterStyle::value /*style*/) override {
        open(mark, anchor, json::object());
    }
    void OnMapEnd() override { close(); }

  private:
    // One origin: the line of the value at `path`, and for plain scalars read as something other
    // than a string, the text as written.
    struct Entry {
        std::string path;
        int line;
        bool plain;
        std::string text;
    };
    // A mapping or list being read.
    struct Frame {
        json value;
        std::string path;
        YAML::anchor_t anchor;
        size_t log_begin;
        size_t nodes_begin;
        size_t bytes_begin;
        size_t depth = 1;                // levels of nesting in this node, itself included
        size_t index = 0;                // lists: the next item's index
        std::optional<std::string> key;  // mappings: the key whose value comes next
    };
    // What an anchor names, to copy it at its aliases. Collections and strings are pointed at
    // (nlohmann keeps them on the heap, where moving their json does not move them); the
    // document only grows while it is read, so they stay valid.
    struct Anchored {
        bool done = false;
        std::optional<std::string> key;  // a scalar: usable as a key too, as written
        json scalar;
        const json::object_t* object = nullptr;
        const json::array_t* array = nullptr;
        const json::string_t* string = nullptr;
        std::string path;  // where it was written; its origins are log_[log_begin, log_end)
        size_t log_begin = 0;
        size_t log_end = 0;
        size_t nodes = 0;
        size_t bytes = 0;
        size_t depth = 0;
    };

    static int line(const YAML::Mark& mark) { return mark.line + 1; }

    bool key_expected() const {
        return !stack_.empty() && stack_.back().value.is_object() && !stack_.back().key;
    }

    std::string value_path() const {
        if (stack_.empty()) {
            return "";
        }
        const Frame& f = stack_.back();
        return f.value.is_array() ? index_path(f.path, f.index) : child_path(f.path, *f.key);
    }

    [[noreturn]] void fail_key(const YAML::Mark& mark) const {
        throw DocumentError(document_, stack_.back().path, "keys must be plain strings",
                            line(mark));
    }

    [[noreturn]] void fail_depth(const std::string& path, const YAML::Mark& mark) const {
        throw DocumentError(document_, path,
                            "nested more than " + std::to_string(kMaxDepth) + " levels deep",
                            line(mark));
    }

    void take_key(const std::string& key, const YAML::Mark& mark) {
        Frame& f = stack_.back();
        if (f.value.contains(key)) {
            throw DocumentError(document_, child_path(f.path, key), "duplicate key", line(mark));
        }
        f.key = key;
    }

    void count(size_t nodes, size_t bytes, const std::string& path, const YAML::Mark& mark) {
        nodes_ += nodes;
        bytes_ += bytes;
        if (nodes_ > max_nodes_) {
            throw DocumentError(document_, path,
                                "the document holds more than " + std::to_string(max_nodes_) +
                                    " values once its aliases are expanded",
                                line(mark));
        }
        if (bytes_ > max_bytes_) {
            throw DocumentError(document_, path,
                                "the document holds more than " + bytes_text(max_bytes_) +
                                    " of text once its aliases are expanded",
                                line(mark));
        }
    }

    // Puts a finished value where it belongs and returns where it is now.
    json* insert(json v) {
        if (stack_.empty()) {
            root_ = std::move(v);
            has_root_ = true;
            return &root_;
        }
        Frame& f = stack_.back();
        if (f.value.is_array()) {
            f.value.push_back(std::move(v));
            ++f.index;
            return &f.value.back();
        }
        json& slot = f.value[*f.key];
        slot = std::move(v);
        f.key.reset();
        return &slot;
    }

    Anchored& anchor_slot(YAML::anchor_t anchor) {
        if (anchor >= anchors_.size()) {
            anchors_.resize(anchor + 1);
        }
        return anchors_[anchor];
    }

    void remember_key(YAML::anchor_t anchor, const std::string& key) {
        Anchored& a = anchor_slot(anchor);
        a = Anchored{};
        a.done = true;
        a.key = key;
        a.scalar = key;
        a.path = stack_.back().path;  // a key has no origin entries of its own
        a.log_begin = a.log_end = log_.size();
        a.nodes = 1;
        a.bytes = key.size();
    }

    void remember_scalar(YAML::anchor_t anchor, const std::string& path, size_t log_begin,
                         size_t nodes, size_t bytes, const json& v, const std::string* key) {
        if (anchor == YAML::NullAnchor) {
            return;
        }
        Anchored& a = anchor_slot(anchor);
        a = Anchored{};
        a.done = true;
        if (key != nullptr) {
            a.key = *key;
        }
        if (v.is_string()) {
            a.string = v.get_ptr<const json::string_t*>();
        } else {
            a.scalar = v;
        }
        a.path = path;
        a.log_begin = log_begin;
        a.log_end = log_.size();
        a.nodes = nodes;
        a.bytes = bytes;
    }

    void open(const YAML::Mark& mark, YAML::anchor_t anchor, json value) {
        if (key_expected()) {
            fail_key(mark);
        }
        const std::string path = value_path();
        if (stack_.size() + 1 > kMaxDepth) {
            fail_depth(path, mark);
        }
        const size_t log_begin = log_.size();
        count(1, 0, path, mark);
        log_.push_back({path, line(mark), false, {}});
        if (anchor != YAML::NullAnchor) {
            anchor_slot(anchor) = Anchored{};  // open: an alias to it now is a loop
        }
        stack_.push_back(
            {std::move(value), path, anchor, log_begin, nodes_ - 1, bytes_, 1, 0, std::nullopt});
    }

    void close() {
        Frame f = std::move(stack_.back());
        stack_.pop_back();
        if (!stack_.empty()) {
            stack_.back().depth = std::max(stack_.back().depth, f.depth + 1);
        }
        json* v = insert(std::move(f.value));
        if (f.anchor == YAML::NullAnchor) {
            return;
        }
        Anchored& a = anchor_slot(f.anchor);
        a.done = true;
        if (v->is_object()) {
            a.object = v->get_ptr<const json::object_t*>();
        } else {
            a.array = v->get_ptr<const json::array_t*>();
        }
        a.path = f.path;
        a.log_begin = f.log_begin;
        a.log_end = log_.size();
        a.nodes = nodes_ - f.nodes_begin;
        a.bytes = bytes_ - f.bytes_begin;
        a.depth = f.depth;
    }

    const std::string& document_;
    Origins& origins_;
    const size_t max_nodes_;
    const size_t max_bytes_;
    size_t nodes_ = 0;
    size_t bytes_ = 0;
    std::vector<Frame> stack_;
    std::vector<Anchored> anchors_;  // by yaml-cpp's anchor id (1, 2, ...)
    std::vector<Entry> log_;
    json root_;
    bool has_root_ = false;
};

// Refuses a second document in the stream: it would be ignored (a trailing "---" is fine).
class SecondDocument final : public YAML::EventHandler {
  public:
    explicit SecondDocument(const std::string& document) : document_(document) {}
    void OnDocumentStart(const YAML::Mark& /*mark*/) override {}
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& /*mark*/, YAML::anchor_t /*anchor*/) override {}
    void OnAlias(const YAML::Mark& mark, YAML::anchor_t /*anchor*/) override { fail(mark); }
    void OnScalar(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                  const std::string& /*value*/) override {
        fail(mark);
    }
    void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/,
                         YAML::anchor_t /*anchor*/, YAML::EmitterStyle::value /*style*/) override {
        fail(mark);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                    YAML::EmitterStyle::value /*style*/) override {
        fail(mark);
    }
    void OnMapEnd() override {}

  private:
    [[noreturn]] void fail(const YAML::Mark& mark) const {
        throw DocumentError(document_, "",
                            "a second YAML document (after '---'): one document is read, the rest "
                            "would be ignored",
                            mark.line + 1);
    }
    const std::string& document_;
};

}  // namespace

size_t node_budget(size_t text_bytes) { return kMinNodeBudget + text_bytes; }

size_t byte_budget(size_t text_bytes) { return kMinByteBudget + text_bytes; }

bool valid_utf8(std::string_view s) {
    size_t i = 0;
    const size_t n = s.size();
    while (i < n) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len = 0;
        uint32_t cp = 0;
        uint32_t min = 0;
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
            min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
            min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return false;
        }
        if (i + len > n) {
            return false;
        }
        for (size_t k = 1; k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (cc & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += len;
    }
    return true;
}

// Rejects duplicate keys in JSON objects, which nlohmann would silently overwrite, and enforces
// the depth and size limits while parsing (JSON has no aliases: values never outnumber bytes,
// but the count is kept so that both readers share one rule).
json parse_json(std::string_view text, const std::string& document) {
    check_size(text, document);
    const size_t max_nodes = node_budget(text.size());
    std::vector<std::set<std::string>> keys;
    std::string duplicate;
    size_t depth = 0;
    size_t nodes = 0;
    json::parser_callback_t cb = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start:
            case json::parse_event_t::array_start:
                if (++depth > kMaxDepth) {
                    throw DocumentError(
                        document, "",
                        "nested more than " + std::to_string(kMaxDepth) + " levels deep");
                }
                if (event == json::parse_event_t::object_start) {
                    keys.emplace_back();
                }
                break;
            case json::parse_event_t::object_end:
                keys.pop_back();
                --depth;
                break;
            case json::parse_event_t::array_end:
                --depth;
                break;
            case json::parse_event_t::key:
                if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
                    duplicate.empty()) {
                    duplicate = parsed.get<std::string>();
                }
                break;
            case json::parse_event_t::value:
                if (++nodes > max_nodes) {
                    throw DocumentError(
                        document, "",
                        "the document holds more than " + std::to_string(max_nodes) + " values");
                }
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
    check_size(text, document);
    std::istringstream in{std::string(text)};
    JsonBuilder builder(document, text.size(), origins);
    try {
        YAML::Parser parser(in);
        if (parser.HandleNextDocument(builder)) {
            SecondDocument second(document);
            parser.HandleNextDocument(second);
        }
    } catch (const YAML::Exception& e) {
        throw DocumentError(document, "", "malformed YAML: " + e.msg, e.mark.line + 1);
    }
    if (!builder.has_root()) {
        return json::object();  // an empty document
    }
    json root = builder.take_root();
    if (root.is_null()) {
        origins.line.clear();
        origins.plain.clear();
        return json::object();  // an empty document
    }
    return root;
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
    const auto size = std::filesystem::file_size(path, ec);
    if (!ec && size > kMaxDocumentBytes) {
        throw DocumentError(path, "",
                            "the document is " + std::to_string(size) +
                                " bytes, over the limit of " + bytes_text(kMaxDocumentBytes));
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
