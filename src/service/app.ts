/**
 * The express app: request ids and logging, security headers, metrics, auth, rate limits, caps
 * on long-lived requests, OpenAPI validation (which also streams uploads to disk), the routers,
 * and the one problem+json error handler, in that order.
 */
import { join } from 'node:path';
import express, { Express } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import helmet from 'helmet';
import type { Store as RateStore } from 'express-rate-limit';
import type { ServiceConfig } from './config.js';
import type { DependencyChecks } from './dependencies.js';
import { ApiKeys, bearerAuth, loadApiKeys } from './http/auth.js';
import { inFlightCaps, InFlightCounter, InFlightKind } from './http/inFlight.js';
import { notFound, problemHandler } from './http/problem.js';
import { rateLimits } from './http/rateLimit.js';
import { sameOriginWrites, sessionAuth, SessionSigner } from './http/session.js';
import { refuseOversizedBodies, removeUploadsAfterResponse, uploadOptions, uploadProblems } from './http/uploads.js';
import type { AuditService } from './jobs/auditService.js';
import { createServiceLogger, Logger, requestLogging } from './logging.js';
import type { ServiceMetrics } from './metrics.js';
import type { Readiness } from './readiness.js';
import { auditsRouter } from './routes/audits.js';
import { docsRouter } from './routes/docs.js';
import { eventsRouter } from './routes/events.js';
import { healthRouter } from './routes/health.js';
import { metricsRouter } from './routes/metrics.js';
import { runsRouter } from './routes/runs.js';
import { sessionRouter } from './routes/session.js';
import { pagesRouter } from './web/pages.js';
import type { ApiSpec } from './spec.js';

export interface AppDeps {
  config: ServiceConfig;
  spec: ApiSpec;
  service: AuditService;
  readiness: Readiness;
  metrics: ServiceMetrics;
  /** Where the service logs (JSON lines); stdout when absent. */
  logger?: Logger;
  /** The keys, loaded from the config when absent. */
  keys?: ApiKeys;
  /** Distributed mode: the servers /readyz checks (PostgreSQL, Redis). */
  dependencies?: DependencyChecks;
  /** Distributed mode: rate-limit counters that every API process shares. */
  sharedRateStore?: (kind: 'writes' | 'reads') => RateStore;
}

/** A response that broke its schema in openapi.yaml (collected when response validation is on). */
export interface ResponseViolation {
  method: string;
  path: string;
  status: number;
  message: string;
}

export interface ServiceApp {
  app: Express;
  /** Filled only with `config.validateResponses`; tests assert it stays empty. */
  responseViolations: ResponseViolation[];
  /** Long-lived requests in flight, by kind (event streams, waits, upload checks). */
  inFlight: Record<InFlightKind, InFlightCounter>;
}

/** Uploads land here before they are checked and moved. */
export function uploadDir(config: ServiceConfig): string {
  return join(config.dataDir, 'uploads');
}

export function createApp({ config, spec, service, readiness, metrics, keys = loadApiKeys(config), logger = createServiceLogger(), dependencies, sharedRateStore }: AppDeps): ServiceApp {
  const app = express();
  const responseViolations: ResponseViolation[] = [];
  const inFlight = inFlightCaps(config.inFlight);
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);

  // First: every later line of the log and every problem carries the request's id.
  app.use(requestLogging(logger, config.accessLog));

  // No upgrade-insecure-requests: the service is often reached over plain HTTP inside a
  // cluster, where that directive would send Swagger UI's own assets to https and break /docs.
  // Referrer-Policy same-origin, not helmet's no-referrer: under no-referrer a browser sends
  // `Origin: null` even from our own pages, and the origin check (session.ts) needs the real one.
  app.use(helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } }, referrerPolicy: { policy: 'same-origin' } }));
  app.use(metrics.http);
  // Browsers' state-changing requests must come from our pages; then a session cookie may stand in for a key.
  const signer = new SessionSigner(config.sessionSecret ?? undefined, config.sessionTtlMs);
  app.use(sameOriginWrites());
  app.use(sessionAuth(signer, keys.enabled));
  app.use(bearerAuth(keys));
  app.use(rateLimits(config.rateLimit, sharedRateStore));
  // From the headers, before any body is read; after auth and the rate limit, which read none either.
  app.use(refuseOversizedBodies(config.maxUploadBytes));
  app.use(inFlight.middleware); // after the principal is known, before any body is read
  app.use(removeUploadsAfterResponse);
  app.use(express.json({ limit: '16kb' })); // POST /runs; the validator checks bodies, it does not parse them
  app.use('/session', express.urlencoded({ extended: false, limit: '4kb' })); // the sign-in form
  app.use(
    OpenApiValidator.middleware({
      // The validator must not rewrite its $refs into our cached document.
      apiSpec: structuredClone(spec.document) as unknown as Parameters<typeof OpenApiValidator.middleware>[0]['apiSpec'],
      validateRequests: { allowUnknownQueryParameters: false },
      validateResponses: config.validateResponses
        ? {
            onError: (err, _body, req) => {
              responseViolations.push({ method: req.method, path: req.originalUrl, status: req.res?.statusCode ?? 0, message: err.message });
              logger.error({ method: req.method, path: req.path, err }, 'response breaks openapi.yaml');
            },
          }
        : false,
      validateSecurity: false, // bearerAuth above: keys are optional, and /healthz must stay cheap
      validateFormats: true,
      fileUploader: uploadOptions(uploadDir(config), config.maxUploadBytes),
      // Swagger UI's and our pages' assets are files, not API routes.
      ignorePaths: /^\/(docs|assets)\/./,
    }),
  );
  app.use(uploadProblems()); // malformed multipart bodies and odd file names: 400, not 500

  app.use(healthRouter(config, service, readiness, dependencies));
  app.use(metricsRouter(metrics));
  app.use(docsRouter(spec));
  app.use(sessionRouter({ signer, resolveKey: keys.enabled ? (key) => keys.principalForKey(key) : undefined }));
  app.use(pagesRouter(service, { signInRequired: keys.enabled, sessionTtlMs: config.sessionTtlMs })); // before the API routers: it answers browsers on their paths, else passes on
  app.use(auditsRouter({ config, service, readiness, metrics }));
  app.use(eventsRouter(service));
  app.use(runsRouter({ config, service, readiness }));
  app.use(notFound);
  app.use(problemHandler(logger));
  return { app, responseViolations, inFlight: inFlight.counters };
}
