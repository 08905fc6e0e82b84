// libFuzzer target for the desired-state decoder: any bytes as a document, through both ways in
// (decode_document, as files, --apply and gtmctl read one: YAML, or JSON when it starts with '{';
// parse_json + state_from_json, as the REST API reads a body). Besides the sanitizers it checks:
// - nothing but a DocumentError comes out (no other exception, no crash, no hang: the reader's
//   limits bound the work);
// - both ways agree on JSON text;
// - what is accepted reads back the same after export, as JSON and as YAML (export -> apply
//   gives an empty diff).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "store/document.h"
#include "store/encode.h"

namespace {

using gtm::store::DesiredState;
using gtm::store::DocumentError;

[[noreturn]] void fail(const char* what, const std::string& detail) {
    std::fprintf(stderr, "fuzz_document: %s: %s\n", what, detail.c_str());
    std::abort();
}

// Reads back what was exported; any error or difference is a bug.
void check_round_trip(const DesiredState& state) {
    const nlohmann::json exported = gtm::store::to_json(state);
    for (const bool yaml : {false, true}) {
        const std::string text = yaml ? gtm::store::to_yaml(exported) : exported.dump();
        DesiredState again;
        try {
            again = gtm::store::parse_document(text, yaml ? "export.yaml" : "export.json");
        } catch (const std::exception& e) {
            fail("the export does not read back", e.what() + std::string("\n") + text);
        }
        if (!(again == state)) {
            fail("the export reads back differently", text);
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::optional<DesiredState> from_text;
    std::optional<DesiredState> from_body;
    std::string text_error;
    try {
        from_text = gtm::store::decode_document(text, "fuzz.yaml").state;
    } catch (const DocumentError& e) {
        text_error = e.what();
    } catch (const std::exception& e) {
        fail("decode_document threw something else than a DocumentError", e.what());
    }
    const size_t first = text.find_first_not_of(" \t\r\n");
    const bool json_text = first != std::string_view::npos && text[first] == '{';
    if (json_text) {
        try {
            const nlohmann::json body = gtm::store::parse_json(text, "request body");
            from_body = gtm::store::state_from_json(body, "request body");
        } catch (const DocumentError&) {
        } catch (const std::exception& e) {
            fail("the REST path threw something else than a DocumentError", e.what());
        }
        if (from_text.has_value() != from_body.has_value() ||
            (from_text && !(*from_text == *from_body))) {
            fail("the file and REST paths disagree", text_error);
        }
    }
    if (from_text) {
        check_round_trip(*from_text);
    }
    return 0;
}
