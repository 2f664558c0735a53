/**
 * The service suites once more, against the distributed service: the API on PostgreSQL and
 * BullMQ/Redis with an audit worker beside it (test/service/helpers.ts, TEST_MODE). Tenancy,
 * limits, sealing and every other guarantee of the embedded service must hold there too.
 * Suites about the embedded service's own files (SQLite, the data-dir lock, restarts of the one
 * process) stay embedded-only; the distributed failure and multi-process tests are beside this.
 */
process.env.ALIAS_AUDIT_TEST_MODE = 'distributed';

const SUITES = ['api', 'auditList', 'authz', 'baseline', 'csrf', 'limits', 'limits2', 'spec', 'tenants', 'uploads-limits', 'workerSeal'];
for (const suite of SUITES) await import(`../service/${suite}.test.ts`);
