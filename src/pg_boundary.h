// Where PostgreSQL calls into C++: exceptions must not unwind through PostgreSQL frames, and
// ereport() must not longjmp over live C++ destructors. guard_cpp() runs C++ code, copies any
// exception's message into a plain buffer, leaves the try block, and only then raises ERROR.
#pragma once

extern "C" {
#include "postgres.h"
}

#include <cstring>
#include <exception>

namespace bw {

template <typename Body>
void guard_cpp(const char* context, Body&& body) {
    char message[1024];
    bool failed = false;
    try {
        body();
    } catch (const std::exception& e) {
        strlcpy(message, e.what(), sizeof message);
        failed = true;
    } catch (...) {
        strlcpy(message, "unknown C++ exception", sizeof message);
        failed = true;
    }
    if (failed)
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                        errmsg("bottledwater: %s: %s", context, message)));
}

}  // namespace bw
