// CONNECT on the database, or superuser, for the SQL functions that drive a worker
// (see database_access.h).
#include "sql/database_access.h"

extern "C" {
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
}

namespace bw {

namespace {

[[noreturn]] void deny(const char* dbname) {
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
             errmsg("permission denied for database %s", dbname),
             errdetail("The bottledwater worker sends every table of the database to Kafka: only "
                       "superusers and roles that may connect to it may drive it."),
             errhint("A superuser can allow it: GRANT CONNECT ON DATABASE %s TO %s;",
                     quote_identifier(dbname),
                     quote_identifier(GetUserNameFromId(GetUserId(), false)))));
}

}  // namespace

Oid require_database_access(const char* dbname) {
    const Oid database = get_database_oid(dbname, true);
    if (!OidIsValid(database))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_DATABASE),
                        errmsg("database \"%s\" does not exist", dbname)));
#if PG_VERSION_NUM >= 160000
    const AclResult access =
        object_aclcheck(DatabaseRelationId, database, GetUserId(), ACL_CONNECT);
#else
    const AclResult access = pg_database_aclcheck(database, GetUserId(), ACL_CONNECT);
#endif
    if (access != ACLCHECK_OK) deny(dbname);
    return database;
}

void require_database_access_if_exists(const char* dbname) {
    if (OidIsValid(get_database_oid(dbname, true)))
        require_database_access(dbname);
    else if (!superuser())
        deny(dbname);
}

}  // namespace bw
