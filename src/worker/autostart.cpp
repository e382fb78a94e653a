// The autostart list file (see autostart.h).
#include "worker/autostart.h"

extern "C" {
#include "storage/fd.h"
#include "utils/builtins.h"
}

namespace bw {

namespace {

// Relative to the data directory, every backend's working directory.
constexpr const char* kFile = "bottledwater.autostart";
constexpr const char* kTempFile = "bottledwater.autostart.tmp";

void write_list(List* names) {
    FILE* file = AllocateFile(kTempFile, PG_BINARY_W);
    if (file == nullptr)
        ereport(ERROR,
                (errcode_for_file_access(), errmsg("could not create file \"%s\": %m", kTempFile)));
    ListCell* cell;
    foreach (cell, names) fprintf(file, "%s\n", static_cast<char*>(lfirst(cell)));
    if (fflush(file) != 0 || pg_fsync(fileno(file)) != 0 || FreeFile(file) != 0)
        ereport(ERROR,
                (errcode_for_file_access(), errmsg("could not write file \"%s\": %m", kTempFile)));
    durable_rename(kTempFile, kFile, ERROR);
}

}  // namespace

List* autostart_databases() {
    List* names = NIL;
    FILE* file = AllocateFile(kFile, PG_BINARY_R);
    if (file == nullptr) {
        if (errno == ENOENT) return NIL;
        ereport(ERROR,
                (errcode_for_file_access(), errmsg("could not open file \"%s\": %m", kFile)));
    }
    char line[NAMEDATALEN + 2];
    while (fgets(line, sizeof line, file) != nullptr) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] != '\0') names = lappend(names, pstrdup(line));
    }
    FreeFile(file);
    return names;
}

bool autostart_contains(const char* dbname) {
    ListCell* cell;
    foreach (cell, autostart_databases()) {
        if (strcmp(static_cast<char*>(lfirst(cell)), dbname) == 0) return true;
    }
    return false;
}

void autostart_add(const char* dbname) {
    if (autostart_contains(dbname)) return;
    write_list(lappend(autostart_databases(), pstrdup(dbname)));
}

void autostart_remove(const char* dbname) {
    List* kept = NIL;
    bool found = false;
    ListCell* cell;
    foreach (cell, autostart_databases()) {
        char* name = static_cast<char*>(lfirst(cell));
        if (strcmp(name, dbname) == 0)
            found = true;
        else
            kept = lappend(kept, name);
    }
    if (found) write_list(kept);
}

}  // namespace bw
