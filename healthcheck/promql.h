// promql monitors (issue 15): health from the traffic itself, read from Prometheus.
//
// One instant query per monitor and interval, whatever the number of members: the monitor's
// `query` is expanded once ({{monitor}} only) and must return a vector with one series per
// member, told apart by the label `match_label`; each member's series is the one whose label
// equals the member's `match_value` (default "{{address}}"; {{pool}}, {{monitor}} and the
// member's own labels expand too). A value for which `fail_if` holds is a failing result
// (reason `threshold`); no series for a member is `no_data` (unknown: no result at all, the
// verdict stays; up: a pass; down: a failure). A query that fails (Prometheus down, slow, an
// error, a result that is not a vector) gives no result to any member: `query_error` is counted
// and alerted on, and no verdict moves — a Prometheus that is down is never read as "every
// member failing" (the reasoning of the isolation guard).
//
// Pure functions here; the prober (prober.cpp) runs the queries on its libcurl multi handle.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "healthcheck/verdict.h"
#include "store/model.h"

namespace gtm::health {

// Expands {{address}}, {{pool}}, {{monitor}} and {{<member label>}} in `tmpl`. nullopt when a
// placeholder names a label the member does not have (`missing` gets its name).
std::optional<std::string> expand_template(const std::string& tmpl, const std::string& address,
                                           const std::string& pool, const std::string& monitor,
                                           const std::map<std::string, std::string>& labels,
                                           std::string* missing = nullptr);

// The URL of the monitor's instant query: <url>/api/v1/query?query=<expanded, encoded>.
std::string promql_query_url(const store::Monitor& m);

// A query's answer: the value of each series by its match_label, or why there is none.
struct QueryOutcome {
    bool ok = false;
    std::string error;                               // when !ok: for logs and metrics
    std::unordered_map<std::string, double> values;  // match_label value -> sample value
};

// Reads Prometheus's JSON answer (HTTP status `http_status`) to an instant query.
QueryOutcome parse_query_response(const std::string& body, long http_status,
                                  const std::string& match_label);

// The result for one member: `match_value` looked up in the outcome (which must be ok). nullopt
// for no data with no_data: unknown (no result: the verdict stays where it is).
std::optional<ProbeResult> promql_result(const store::Monitor& m, const std::string& match_value,
                                         const QueryOutcome& outcome);

// "> 0.05" etc.: true when `value` fails.
bool fails(store::Comparison op, double threshold, double value);

}  // namespace gtm::health
