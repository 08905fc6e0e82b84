// The error every control-plane check throws: which document, where in it, and why.
#pragma once

#include <stdexcept>
#include <string>

namespace gtm::store {

class DocumentError : public std::runtime_error {
  public:
    // `path` is the place in the document: "pools[1].members[0].address"; `line` is 1-based,
    // 0 when unknown (JSON documents, REST bodies).
    DocumentError(std::string document, std::string path, std::string reason, int line = 0);

    const std::string& document() const { return document_; }
    const std::string& path() const { return path_; }
    const std::string& reason() const { return reason_; }
    int line() const { return line_; }

  private:
    std::string document_;
    std::string path_;
    std::string reason_;
    int line_;
};

}  // namespace gtm::store
