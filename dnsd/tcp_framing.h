// DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766 §8): every message behind its 2-byte length.
// A pure function over the bytes received so far, so that the framing is tested and fuzzed
// without sockets; the TCP server (tcp_server.cpp) runs it on each connection's read buffer.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dnsd/wire.h"

namespace gtm::dns {

struct Framed {
    size_t consumed = 0;  // bytes of the complete messages, from the start
    size_t messages = 0;  // how many were handed to `each`
    size_t need = 0;      // the buffer size the next, incomplete message needs; 0: none begun
};

// Calls `each(message, size)` for every complete message in `in[0..len)`, in order (RFC 7766
// §6.2.1.1: pipelined queries are answered in order). A message of length 0 is handed on as
// such (the responder drops it: under 12 bytes).
template <typename F>
Framed split_messages(const uint8_t* in, size_t len, F&& each) {
    Framed f;
    size_t pos = 0;
    while (len - pos >= 2) {
        const size_t size = rd16(in + pos);
        if (len - pos < 2 + size) {
            f.need = 2 + size;
            break;
        }
        each(in + pos + 2, size);
        pos += 2 + size;
        ++f.messages;
    }
    if (f.need == 0 && len - pos == 1) {
        f.need = 2;  // half a length
    }
    f.consumed = pos;
    return f;
}

}  // namespace gtm::dns
