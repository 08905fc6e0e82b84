// The verdict table: what the probe engine concluded about each member. The only header of
// healthcheck/ that dnsd/ includes (DESIGN.md: answer-picking and health-checking meet in one
// small table and never call each other).
//
// A VerdictTable is a value: the prober publishes a new one on every change; the snapshot
// compiler reads it on the control thread. DNS workers never see it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gtm::health {

enum class Verdict : uint8_t { Unknown, Up, Down };

inline const char* to_string(Verdict v) {
    switch (v) {
        case Verdict::Unknown:
            return "unknown";
        case Verdict::Up:
            return "up";
        case Verdict::Down:
            return "down";
    }
    return "?";
}

struct MemberHealth {
    Verdict verdict = Verdict::Unknown;
    // When the member last became eligible (verdict up, or admin state back to auto/up), on the
    // clock the compiler is given; drives slow start. 0: long ago.
    int64_t eligible_since_ms = 0;
    // A probe failed and the next ones have not yet confirmed it (fall): still eligible, but
    // avoided while its tier has members above suspicion.
    bool suspect = false;
};

class VerdictTable {
  public:
    void set(std::string_view pool, std::string_view address, MemberHealth h) {
        map_[key(pool, address)] = h;
    }

    // Members never probed are Unknown, which is served.
    MemberHealth get(std::string_view pool, std::string_view address) const {
        auto it = map_.find(key(pool, address));
        return it == map_.end() ? MemberHealth{} : it->second;
    }

    size_t size() const { return map_.size(); }

  private:
    static std::string key(std::string_view pool, std::string_view address) {
        std::string k(pool);
        k.push_back('\0');
        k.append(address);
        return k;
    }

    std::unordered_map<std::string, MemberHealth> map_;
};

}  // namespace gtm::health
