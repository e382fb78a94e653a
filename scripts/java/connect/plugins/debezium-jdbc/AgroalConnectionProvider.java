// A stand-in for Hibernate's Agroal connection provider, whose jar (hibernate-agroal) is not
// served to the project. The JDBC sink names this class as its default connection.provider, and
// its configuration class needs it to load; this one pools with HikariCP under that name.
package org.hibernate.agroal.internal;

import org.hibernate.hikaricp.internal.HikariCPConnectionProvider;

public class AgroalConnectionProvider extends HikariCPConnectionProvider {
}
