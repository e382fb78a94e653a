// Where PostgreSQL calls into C++: exceptions must not unwind through PostgreSQL frames, and
// ereport() must not longjmp over live C++ destructors. guard_cpp() runs C++ code, copies any
// exception's message into a plain buffer, leaves the try block, and only then raises ERROR.
#pragma once

extern "C" {
#include "postgres.h"
}

#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>

namespace bw {

// An error meant for the user as it stands: guard_cpp reports it with its own SQLSTATE, detail
// and hint, and without the context prefix.
class ReportableError : public std::runtime_error {
public:
    ReportableError(int sqlstate, const std::string& message, std::string detail,
                    std::string hint)
        : std::runtime_error(message),
          sqlstate_(sqlstate),
          detail_(std::move(detail)),
          hint_(std::move(hint)) {}
    int sqlstate() const { return sqlstate_; }
    const std::string& detail() const { return detail_; }
    const std::string& hint() const { return hint_; }

private:
    int sqlstate_;
    std::string detail_;
    std::string hint_;
};

template <typename Body>
void guard_cpp(const char* context, Body&& body) {
    // Set only on failure: an initialiser ("") would zero all of each buffer on every call, and
    // this runs several times per decoded change.
    char message[1024];
    char detail[1024];
    char hint[1024];
    detail[0] = hint[0] = '\0';
    int sqlstate = ERRCODE_INTERNAL_ERROR;
    bool failed = false;
    bool reportable = false;
    try {
        body();
    } catch (const ReportableError& e) {
        strlcpy(message, e.what(), sizeof message);
        strlcpy(detail, e.detail().c_str(), sizeof detail);
        strlcpy(hint, e.hint().c_str(), sizeof hint);
        sqlstate = e.sqlstate();
        failed = reportable = true;
    } catch (const std::exception& e) {
        strlcpy(message, e.what(), sizeof message);
        failed = true;
    } catch (...) {
        strlcpy(message, "unknown C++ exception", sizeof message);
        failed = true;
    }
    if (reportable)
        ereport(ERROR, (errcode(sqlstate), errmsg("%s", message),
                        detail[0] ? errdetail("%s", detail) : 0,
                        hint[0] ? errhint("%s", hint) : 0));
    if (failed)
        ereport(ERROR, (errcode(sqlstate), errmsg("bottledwater: %s: %s", context, message)));
}

}  // namespace bw
