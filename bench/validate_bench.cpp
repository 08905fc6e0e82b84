// validate-bench: what the control plane spends reading and checking large desired-state documents
// (issue 10): 40,000 records at one name, 40,000 records at as many names, a 10,000-member state,
// and a YAML alias bomb. Prints one markdown table: the median of --runs runs per step.
//   validate_bench [--runs N]
// Uses only the public API of store/document.h and store/validate.h, so that the same file builds
// against an older store/ to measure "before".
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "store/document.h"
#include "store/validate.h"

namespace {

using gtm::store::DesiredState;
using gtm::store::DocumentError;
using Clock = std::chrono::steady_clock;

std::string zone_head() {
    return "zones:\n"
           "  - name: bench.test\n"
           "    soa: {mname: ns1.bench.test, rname: h.bench.test}\n"
           "    ns: [ns1.bench.test]\n"
           "    records:\n"
           "      - \"ns1 3600 A 127.0.0.53\"\n";
}

std::string address(int i) {
    return "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
           std::to_string(i % 256);
}

std::string records_at_one_name(int n) {
    std::string doc = zone_head();
    for (int i = 0; i < n; ++i) {
        doc += "      - \"big 300 A " + address(i) + "\"\n";
    }
    return doc;
}

std::string records_at_many_names(int n) {
    std::string doc = zone_head();
    for (int i = 0; i < n; ++i) {
        doc += "      - \"h" + std::to_string(i) + " 300 A " + address(i) + "\"\n";
    }
    return doc;
}

// `pools` pools of `per_pool` members (127.x.y.z), one balancer per pool, one monitor.
std::string members_state(int pools, int per_pool) {
    std::string doc =
        zone_head() + "monitors: [{name: web, type: http, interval: 1s, timeout: 500ms}]\npools:\n";
    std::string balancers = "balancers:\n";
    for (int p = 0; p < pools; ++p) {
        const std::string name = "p" + std::to_string(p);
        doc += "  - name: " + name + "\n    monitor: web\n    members:\n";
        for (int m = 0; m < per_pool; ++m) {
            const int i = p * per_pool + m;
            doc += "      - {address: 127." + std::to_string(i / 62500 + 1) + "." +
                   std::to_string(i / 250 % 250) + "." + std::to_string(i % 250 + 1) +
                   ", weight: 100}\n";
        }
        balancers += "  - {name: " + name + ".bench.test, pools: [{pool: " + name + "}]}\n";
    }
    return doc + balancers;
}

std::string alias_bomb() {
    std::string doc =
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
    std::string prev = "a";
    for (const char* n : {"b", "c", "d", "e", "f", "g", "h", "i"}) {
        doc += std::string(n) + ": &" + n + " [";
        for (int i = 0; i < 9; ++i) {
            doc += (i > 0 ? ",*" : "*") + prev;
        }
        doc += "]\n";
        prev = n;
    }
    return doc;
}

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

// The document decoded resource by resource (zone_from_json...), without validation.
DesiredState decode_only(const nlohmann::json& root) {
    DesiredState s;
    auto each = [&](const char* key, const std::function<void(const nlohmann::json&)>& f) {
        if (root.contains(key)) {
            for (const auto& item : root[key]) {
                f(item);
            }
        }
    };
    each("zones", [&](const nlohmann::json& j) {
        s.zones.push_back(gtm::store::zone_from_json(j, "bench"));
    });
    each("monitors", [&](const nlohmann::json& j) {
        s.monitors.push_back(gtm::store::monitor_from_json(j, "bench"));
    });
    each("pools", [&](const nlohmann::json& j) {
        s.pools.push_back(gtm::store::pool_from_json(j, "bench"));
    });
    each("balancers", [&](const nlohmann::json& j) {
        s.balancers.push_back(gtm::store::balancer_from_json(j, "bench"));
    });
    return s;
}

struct Row {
    std::string name;
    size_t bytes = 0;
    double read_ms = 0;      // text to JSON (YAML reader)
    double decode_ms = 0;    // JSON to the model
    double validate_ms = 0;  // validate()
    double total_ms = 0;     // parse_document: all of it, as --apply and gtmctl pay it
    std::string outcome;
};

Row measure(const std::string& name, const std::string& text, int runs) {
    Row row;
    row.name = name;
    row.bytes = text.size();
    std::vector<double> read;
    std::vector<double> decode;
    std::vector<double> check;
    std::vector<double> total;
    for (int r = 0; r < runs; ++r) {
        auto t0 = Clock::now();
        nlohmann::json root;
        try {
            gtm::store::Origins origins;
            root = gtm::store::parse_text(text, "bench.yaml", origins);
        } catch (const DocumentError& e) {
            read.push_back(ms_since(t0));
            total.push_back(read.back());
            row.outcome = std::string("refused: ") + e.reason();
            continue;
        }
        read.push_back(ms_since(t0));
        t0 = Clock::now();
        DesiredState s = decode_only(root);
        decode.push_back(ms_since(t0));
        t0 = Clock::now();
        try {
            gtm::store::validate(s, "bench.yaml");
            row.outcome = "valid";
        } catch (const DocumentError& e) {
            row.outcome = "refused: " + e.reason();
        }
        check.push_back(ms_since(t0));
        t0 = Clock::now();
        try {
            gtm::store::parse_document(text, "bench.yaml");
        } catch (const DocumentError&) {
        }
        total.push_back(ms_since(t0));
    }
    row.read_ms = median(read);
    row.decode_ms = median(decode);
    row.validate_ms = median(check);
    row.total_ms = median(total);
    if (row.outcome.size() > 90) {
        row.outcome = row.outcome.substr(0, 87) + "...";
    }
    return row;
}

}  // namespace

int main(int argc, char** argv) {
    int runs = 5;
    bool bomb = true;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = std::max(1, std::atoi(argv[++i]));
        } else if (std::strcmp(argv[i], "--no-bomb") == 0) {
            bomb = false;  // for a store/ that expands aliases: 40 s and 2 GB
        } else {
            std::fprintf(stderr, "usage: validate_bench [--runs N] [--no-bomb]\n");
            return 2;
        }
    }
    std::vector<Row> rows;
    rows.push_back(measure("40,000 A records at one name", records_at_one_name(40000), runs));
    rows.push_back(measure("40,000 A records at 40,000 names", records_at_many_names(40000), runs));
    rows.push_back(
        measure("10,000 members (100 pools x 100, 100 balancers)", members_state(100, 100), runs));
    if (bomb) {
        rows.push_back(measure("YAML alias bomb (9^9 values)", alias_bomb(), runs));
    }
    std::printf(
        "| document | bytes | read ms | decode ms | validate ms | parse_document ms | outcome |\n");
    std::printf("|---|---|---|---|---|---|---|\n");
    for (const Row& r : rows) {
        std::printf("| %s | %zu | %.1f | %.1f | %.1f | %.1f | %s |\n", r.name.c_str(), r.bytes,
                    r.read_ms, r.decode_ms, r.validate_ms, r.total_ms, r.outcome.c_str());
    }
    std::printf("\nmedian of %d runs each\n", runs);
    return 0;
}
