/**
 * Whose rows a store call sees. Every call of the job and run stores that serves a client takes
 * one, so tenancy is part of the store's interface and any later store inherits it: a row of
 * another tenant does not exist for the caller (the routes answer 404, never 403).
 */

/** A tenant's own rows, or (admin keys) every tenant's. */
export type Scope = TenantScope | 'admin';

/** One tenant: what a new row is created under, and what cache reuse is confined to. */
export interface TenantScope {
  tenant: string;
}

/** The one tenant when API keys are off, and the owner of rows from before tenants existed. */
export const DEFAULT_TENANT = 'default';

/** The SQL condition for `scope` on a table's `tenant` column (`alias.tenant` with `alias`). */
export function tenantWhere(scope: Scope, alias?: string): { sql: string; args: string[] } {
  if (scope === 'admin') return { sql: '1 = 1', args: [] };
  return { sql: `${alias ? `${alias}.` : ''}tenant = ?`, args: [scope.tenant] };
}
